//! Record encoding: one format-version byte, then postcard. A record of an unknown version is
//! an error, never a silent misread.

use super::StoreError;
use serde::{Serialize, de::DeserializeOwned};

const FORMAT_V1: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT_V1];
    out.extend(postcard::to_stdvec(value)?);
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, rest)) => Ok(postcard::from_bytes(rest)?),
        Some((&v, _)) => Err(StoreError::Format(v)),
        None => Err(StoreError::Format(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Brand, CustomerId, Event, Kind, MaskedAttrs, Payload, PaymentId, PaymentMethod,
        PaymethodEvent, PaymethodId, Position, Timestamp,
    };

    #[test]
    fn records_round_trip_and_unknown_versions_are_refused() {
        let event = Event {
            position: Position(3),
            aggregate_id: 7,
            customer_id: CustomerId::parse("alice").unwrap(),
            version: 1,
            recorded_at: Timestamp(5),
            payload: Payload::Paymethod(PaymethodEvent::Changed {
                previous: MaskedAttrs {
                    kind: Kind::Bank,
                    brand: None,
                    last4: "6789".into(),
                },
                method: PaymentMethod {
                    id: PaymethodId(7),
                    customer_id: CustomerId::parse("alice").unwrap(),
                    kind: Kind::Card,
                    brand: Some(Brand::Visa),
                    last4: "4242".into(),
                    request_id: Some(17),
                    version: 2,
                    verification_payment_id: PaymentId(9),
                    created_at: Timestamp(1),
                    updated_at: Timestamp(5),
                },
            }),
        };
        let bytes = encode(&event).unwrap();
        assert_eq!(decode::<Event>(&bytes).unwrap(), event);
        let mut future = bytes.clone();
        future[0] = 9;
        assert!(matches!(
            decode::<Event>(&future),
            Err(StoreError::Format(9))
        ));
        assert!(decode::<Event>(&[]).is_err());
    }
}
