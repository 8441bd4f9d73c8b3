//! The payment-method aggregate's state and its pure rules. The aggregate actor owns one of
//! these; it decides here what a command means before anything is paid for or stored.

use super::number::mask;
use super::{
    AccountNumber, Brand, CustomerId, FieldError, Kind, PaymentId, PaymethodId, Position, Timestamp,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

mod events;
pub use events::{MaskedAttrs, PaymethodEvent};

/// A payment method as anyone entitled to it may see it: in answers, events, messages and
/// views. What only the aggregate may hold is in [`StoredMethod`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymethodId,
    pub customer_id: CustomerId,
    pub kind: Kind,
    pub brand: Option<Brand>,
    pub last4: String,
    pub request_id: Option<u64>,
    pub version: u64,
    pub verification_payment_id: PaymentId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl PaymentMethod {
    pub fn attrs(&self) -> MaskedAttrs {
        MaskedAttrs {
            kind: self.kind,
            brand: self.brand,
            last4: self.last4.clone(),
        }
    }

    pub fn masked_number(&self) -> String {
        mask(self.kind, &self.last4)
    }
}

/// The payment-method aggregate's state as stored: the method, the payment system's token for
/// its number and a keyed fingerprint of it (never the number itself), and where its last
/// event is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMethod {
    pub method: PaymentMethod,
    /// The payment system's token that stands for the number.
    pub token: String,
    /// HMAC-SHA256 of kind and digits under this installation's secret: tells whether a
    /// PATCH brings the same number without keeping the number.
    pub fingerprint: String,
    /// Position of the latest event recorded for this aggregate.
    pub last_position: Position,
}

impl StoredMethod {
    /// Version 1 of method `id` for `number`, verified now: the payment system's `token`
    /// stands for the number, `fingerprint` is its keyed fingerprint. The store fills in the
    /// verification payment's id and the event's position.
    pub fn registered(
        id: PaymethodId,
        customer_id: CustomerId,
        number: &AccountNumber,
        request_id: Option<u64>,
        token: String,
        fingerprint: String,
    ) -> Self {
        let now = Timestamp::now();
        Self {
            method: PaymentMethod {
                id,
                customer_id,
                kind: number.kind(),
                brand: number.brand(),
                last4: number.last4(),
                request_id,
                version: 1,
                verification_payment_id: PaymentId(0),
                created_at: now,
                updated_at: now,
            },
            token,
            fingerprint,
            last_position: Position(0),
        }
    }

    /// The next version: `number` verified now, with the payment system's `token` for it.
    pub fn changed(&self, number: &AccountNumber, token: String, fingerprint: String) -> Self {
        Self {
            method: PaymentMethod {
                kind: number.kind(),
                brand: number.brand(),
                last4: number.last4(),
                version: self.method.version + 1,
                updated_at: Timestamp::now(),
                ..self.method.clone()
            },
            token,
            fingerprint,
            last_position: self.last_position,
        }
    }
}

/// What a PATCH turns out to ask for, decided against the current state.
#[derive(Debug, PartialEq, Eq)]
pub enum ChangePlan {
    /// The request names the current kind and number: 200, nothing recorded.
    Unchanged,
    /// A new number (possibly of a new kind) that needs an approved verification first.
    NewNumber(AccountNumber),
}

/// Decides what `kind` and `number` (both optional, as in the PATCH body) mean for `current`.
/// A kind change needs the new number too: paytree does not keep numbers, so it cannot
/// re-validate the old one as the new kind.
pub fn plan_change(
    current: &StoredMethod,
    kind: Option<Kind>,
    number: Option<&str>,
    fingerprinter: &Fingerprinter,
) -> Result<ChangePlan, FieldError> {
    let target_kind = kind.unwrap_or(current.method.kind);
    match number {
        None if kind.is_none() => Err(FieldError::new(
            "body",
            "give at least one of \"kind\" and \"number\"",
        )),
        None if target_kind == current.method.kind => Ok(ChangePlan::Unchanged),
        None => Err(FieldError::new(
            "number",
            "is required when the kind changes",
        )),
        Some(raw) => {
            let number = AccountNumber::parse(target_kind, raw)?;
            if target_kind == current.method.kind
                && fingerprinter.of(&number) == current.fingerprint
            {
                Ok(ChangePlan::Unchanged)
            } else {
                Ok(ChangePlan::NewNumber(number))
            }
        }
    }
}

/// Computes keyed fingerprints of numbers. The key is this installation's secret, kept
/// outside the store, so the fingerprints in the store cannot be brute-forced from it alone.
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; 32],
}

impl Fingerprinter {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The fingerprint of a registration request, for idempotency: equal for the same
    /// customer, kind, digits (however spaced) and requestId.
    pub fn of_registration(
        &self,
        customer: &CustomerId,
        number: &AccountNumber,
        request_id: Option<u64>,
    ) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC accepts a key of any length");
        mac.update(b"registration:");
        mac.update(customer.as_str().as_bytes());
        mac.update(b":");
        mac.update(self.of(number).as_bytes());
        mac.update(b":");
        mac.update(request_id.unwrap_or(0).to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn of(&self, number: &AccountNumber) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC accepts a key of any length");
        mac.update(number.kind().as_str().as_bytes());
        mac.update(b":");
        mac.update(number.expose_digits().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(fp: &Fingerprinter, kind: Kind, raw: &str) -> StoredMethod {
        let n = AccountNumber::parse(kind, raw).unwrap();
        let alice = CustomerId::parse("alice").unwrap();
        StoredMethod::registered(PaymethodId(1), alice, &n, None, "tok_1".into(), fp.of(&n))
    }

    #[test]
    fn the_same_number_in_another_spelling_is_no_change() {
        let fp = Fingerprinter::new([7; 32]);
        let m = method(&fp, Kind::Card, "4242424242424242");
        let plan = plan_change(&m, None, Some("4242-4242 4242 4242"), &fp).unwrap();
        assert_eq!(plan, ChangePlan::Unchanged);
        assert_eq!(
            plan_change(&m, Some(Kind::Card), None, &fp).unwrap(),
            ChangePlan::Unchanged
        );
    }

    #[test]
    fn a_new_number_or_kind_needs_verification() {
        let fp = Fingerprinter::new([7; 32]);
        let m = method(&fp, Kind::Card, "4242424242424242");
        let plan = plan_change(&m, None, Some("5555555555554444"), &fp).unwrap();
        assert!(matches!(plan, ChangePlan::NewNumber(n) if n.last4() == "4444"));
        let plan = plan_change(&m, Some(Kind::Bank), Some("110-123-456789"), &fp).unwrap();
        assert!(matches!(plan, ChangePlan::NewNumber(n) if n.kind() == Kind::Bank));
    }

    #[test]
    fn a_kind_change_without_a_number_or_an_empty_patch_is_invalid() {
        let fp = Fingerprinter::new([7; 32]);
        let m = method(&fp, Kind::Card, "4242424242424242");
        assert_eq!(
            plan_change(&m, Some(Kind::Bank), None, &fp)
                .unwrap_err()
                .field,
            "number"
        );
        assert_eq!(plan_change(&m, None, None, &fp).unwrap_err().field, "body");
        // The new number is validated as the resulting kind.
        assert!(plan_change(&m, Some(Kind::Card), Some("110-123-45678"), &fp).is_err());
    }

    #[test]
    fn fingerprints_depend_on_the_key_and_do_not_contain_the_number() {
        let n = AccountNumber::parse(Kind::Card, "4242424242424242").unwrap();
        let a = Fingerprinter::new([1; 32]).of(&n);
        assert_ne!(a, Fingerprinter::new([2; 32]).of(&n));
        assert!(!a.contains("4242424242424242"));
    }
}
