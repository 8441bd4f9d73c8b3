//! What each store sets from its own clock at commit time, masked for comparison: an
//! idempotency record's `created_at`, an intent's `opened_at`, a shipment's `created_at` and
//! `cancelled_at` (when the store makes it; an event's `recorded_at` is not compared).

use paytree::domain::idempotency::IdempotencyRecord;
use paytree::domain::intent::Intent;
use paytree::domain::{Payload, Shipment, ShipmentEvent, Timestamp};

pub fn same_item<T>(item: T) -> T {
    item
}

pub fn masked_record(record: Option<IdempotencyRecord>) -> Option<IdempotencyRecord> {
    record.map(|r| IdempotencyRecord {
        created_at: Timestamp(0),
        ..r
    })
}

pub fn masked_intents(intents: Vec<Intent>) -> Vec<Intent> {
    intents
        .into_iter()
        .map(|i| Intent {
            opened_at: Timestamp(0),
            ..i
        })
        .collect()
}

pub fn masked_shipment<S: MaskShipment>(shipment: S) -> S {
    shipment.masked()
}

/// A shipment with the times its store set when it made it masked.
pub trait MaskShipment {
    fn masked(self) -> Self;
}

impl MaskShipment for Shipment {
    fn masked(self) -> Self {
        Shipment {
            created_at: Timestamp(0),
            cancelled_at: self.cancelled_at.map(|_| Timestamp(0)),
            ..self
        }
    }
}

impl MaskShipment for Option<Shipment> {
    fn masked(self) -> Self {
        self.map(MaskShipment::masked)
    }
}

pub fn masked_payload(payload: Payload) -> Payload {
    match payload {
        Payload::Shipment(e) => Payload::Shipment(match e {
            ShipmentEvent::Created { shipment } => ShipmentEvent::Created {
                shipment: shipment.masked(),
            },
            ShipmentEvent::Shipped { shipment } => ShipmentEvent::Shipped {
                shipment: shipment.masked(),
            },
            ShipmentEvent::Cancelled { shipment } => ShipmentEvent::Cancelled {
                shipment: shipment.masked(),
            },
        }),
        other => other,
    }
}
