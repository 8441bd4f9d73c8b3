//! The payment-method aggregate's side of a write transaction: a verified registration or
//! change (the method, its payment and its event together), a declined verification, a
//! removal, and the idempotency record a registration keeps under its key.

use super::{StoreError, Tables};
use crate::domain::idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentOutcome};
use crate::domain::intent::IntentRef;
use crate::domain::{
    CustomerId, MaskedAttrs, Payload, Payment, PaymethodEvent, PaymethodId, Position, StoredMethod,
    Timestamp,
};
use crate::store::codec::{decode, encode};
use crate::store::command::{Outcome, Rejected};
use crate::store::tables::{OF_PAYMETHODS, index_ms};
use redb::ReadableTable;

type Applied = Result<Result<Outcome, Rejected>, StoreError>;

impl Tables<'_> {
    /// A verified registration; closes its intent and keeps its outcome under its key.
    pub(super) fn register(
        &mut self,
        method: &StoredMethod,
        payment: &Payment,
        intent: &IntentRef,
        idempotency: Option<&IdempotencyClaim>,
    ) -> Applied {
        if self.paymethods.get(method.method.id.0)?.is_some() {
            return Ok(Err(Rejected::VersionConflict));
        }
        if self.key_recorded(&method.method.customer_id, idempotency)? {
            return Ok(Err(Rejected::KeyRecorded));
        }
        if !self.intent_is_open(intent)? {
            return Ok(Err(Rejected::IntentClosed));
        }
        self.close_intent(intent)?;
        let outcome = self.store_verified(method.clone(), payment, None)?;
        if let (Ok(stored), Some(claim)) = (&outcome, idempotency) {
            let mut method = method.method.clone();
            method.verification_payment_id =
                stored.payment_id.unwrap_or(method.verification_payment_id);
            let position = stored.position.unwrap_or(Position(0));
            let customer = method.customer_id.clone();
            let outcome = IdempotentOutcome::Registered { method, position };
            self.remember(&customer, claim, outcome)?;
        }
        Ok(outcome)
    }

    /// A declined verification: only its payment record; closes its intent and keeps the
    /// outcome under its key.
    pub(super) fn record_declined(
        &mut self,
        payment: &Payment,
        intent: &IntentRef,
        idempotency: Option<&IdempotencyClaim>,
    ) -> Applied {
        if self.key_recorded(&payment.customer_id, idempotency)? {
            return Ok(Err(Rejected::KeyRecorded));
        }
        if !self.intent_is_open(intent)? {
            return Ok(Err(Rejected::IntentClosed));
        }
        self.close_intent(intent)?;
        let payment_id = self.insert_payment(payment.clone())?;
        if let Some(claim) = idempotency {
            let outcome = IdempotentOutcome::Declined { payment_id };
            self.remember(&payment.customer_id, claim, outcome)?;
        }
        Ok(Ok(Outcome {
            payment_id: Some(payment_id),
            ..Outcome::default()
        }))
    }

    /// A verified change, decided on version `expected`; closes its intent.
    pub(super) fn change(
        &mut self,
        method: &StoredMethod,
        expected: u64,
        previous: &MaskedAttrs,
        payment: &Payment,
        intent: &IntentRef,
    ) -> Applied {
        if self.stored_version(method.method.id)? != Some(expected) {
            return Ok(Err(Rejected::VersionConflict));
        }
        if !self.intent_is_open(intent)? {
            return Ok(Err(Rejected::IntentClosed));
        }
        self.close_intent(intent)?;
        self.store_verified(method.clone(), payment, Some(previous.clone()))
    }

    /// Stores an approved payment, the method that it verified and the event, together:
    /// `PaymentMethodRegistered`, or `PaymentMethodChanged` when there are `previous` attributes.
    fn store_verified(
        &mut self,
        mut stored: StoredMethod,
        payment: &Payment,
        previous: Option<MaskedAttrs>,
    ) -> Applied {
        let mut payment = payment.clone();
        let method = &mut stored.method;
        payment.paymethod_id = Some(method.id);
        method.verification_payment_id = self.insert_payment(payment)?;
        let event = match previous {
            None => PaymethodEvent::Registered {
                method: method.clone(),
            },
            Some(previous) => PaymethodEvent::Changed {
                previous,
                method: method.clone(),
            },
        };
        let (id, customer, version) = (method.id, method.customer_id.clone(), method.version);
        let position = self.append_event(id.0, &customer, version, Payload::Paymethod(event))?;
        let payment_id = stored.method.verification_payment_id;
        stored.last_position = position;
        self.paymethods.insert(id.0, encode(&stored)?.as_slice())?;
        self.by_customer
            .insert((customer.as_str(), OF_PAYMETHODS, id.0), ())?;
        Ok(Ok(Outcome {
            position: Some(position),
            payment_id: Some(payment_id),
            ..Outcome::default()
        }))
    }

    pub(super) fn remove(&mut self, id: PaymethodId, expected: u64) -> Applied {
        let Some(bytes) = self.paymethods.remove(id.0)? else {
            return Ok(Err(Rejected::VersionConflict));
        };
        let stored: StoredMethod = decode(bytes.value())?;
        drop(bytes);
        let method = &stored.method;
        if method.version != expected {
            // Put it back untouched: this command writes nothing.
            self.paymethods.insert(id.0, encode(&stored)?.as_slice())?;
            return Ok(Err(Rejected::VersionConflict));
        }
        self.by_customer
            .remove((method.customer_id.as_str(), OF_PAYMETHODS, id.0))?;
        let event = PaymethodEvent::Removed {
            attrs: method.attrs(),
        };
        // A removal is one more change.
        let payload = Payload::Paymethod(event);
        let position = self.append_event(id.0, &method.customer_id, method.version + 1, payload)?;
        Ok(Ok(Outcome {
            position: Some(position),
            ..Outcome::default()
        }))
    }

    /// Whether `claim`'s key already has an outcome: a second outcome under one key would
    /// be a second registration for one request, so the command that brings it is refused.
    pub(super) fn key_recorded(
        &self,
        customer: &CustomerId,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<bool, StoreError> {
        match claim {
            Some(claim) => Ok(self
                .idempotency
                .get((customer.as_str(), claim.key.as_str()))?
                .is_some()),
            None => Ok(false),
        }
    }

    pub(super) fn remember(
        &mut self,
        customer: &CustomerId,
        claim: &IdempotencyClaim,
        outcome: IdempotentOutcome,
    ) -> Result<(), StoreError> {
        let record = IdempotencyRecord {
            fingerprint: claim.fingerprint.clone(),
            outcome,
            created_at: Timestamp::now(),
        };
        let key = (customer.as_str(), claim.key.as_str());
        // The first outcome stays (commands bringing a second are refused before they get
        // here; see `key_recorded`).
        if self.idempotency.get(key)?.is_none() {
            self.idempotency.insert(key, encode(&record)?.as_slice())?;
            let at = index_ms(record.created_at);
            self.idempotency_by_time.insert((at, key.0, key.1), ())?;
        }
        Ok(())
    }

    fn stored_version(&self, id: PaymethodId) -> Result<Option<u64>, StoreError> {
        match self.paymethods.get(id.0)? {
            Some(bytes) => Ok(Some(decode::<StoredMethod>(bytes.value())?.method.version)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::idempotency::IdempotencyClaim;
    use crate::domain::intent::IntentRef;
    use crate::domain::{
        AccountNumber, CustomerId, IdempotencyKey, Kind, Payment, PaymethodId, StoredMethod,
    };
    use crate::store::{Command, OpenIntent, Outcome, Redb, Register, Rejected};

    fn one(store: &Redb, command: impl Into<Command>) -> Result<Outcome, Rejected> {
        store.commit(&[command.into()]).unwrap().remove(0)
    }

    /// Opens an intent under `base` and registers method `id` with it, under `claim`.
    fn register(store: &Redb, id: u64, base: &str, claim: &IdempotencyClaim) -> Register {
        let customer = CustomerId::parse("alice").unwrap();
        let open = OpenIntent {
            base: base.into(),
            nonce: format!("n{id}"),
            customer_id: customer.clone(),
            paymethod_id: None,
            amount: 0,
            order_id: None,
        };
        let nonce = one(store, open).unwrap().nonce.unwrap();
        let number = AccountNumber::parse(Kind::Card, "4242424242424242").unwrap();
        Register {
            method: StoredMethod::registered(
                PaymethodId(id),
                customer.clone(),
                &number,
                None,
                format!("tok_{id}"),
                format!("fp_{id}"),
            ),
            payment: Payment::verification(customer, None, None, format!("auth_{id}")),
            intent: IntentRef {
                base: base.into(),
                nonce,
            },
            idempotency: Some(claim.clone()),
        }
    }

    #[test]
    fn a_second_registration_under_a_key_that_has_an_outcome_is_refused_and_stores_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Redb::open(&dir.path().join("t.redb")).unwrap();
        let claim = IdempotencyClaim {
            key: IdempotencyKey::parse("k1").unwrap(),
            fingerprint: "f".into(),
        };
        let first = register(&store, 1, "reg_a", &claim);
        assert!(one(&store, first).is_ok());
        // A retry whose claim was lost opens a fresh intent and gets a second approval.
        let second = register(&store, 2, "reg_b", &claim);
        assert_eq!(one(&store, second), Err(Rejected::KeyRecorded));
        assert!(store.paymethod(PaymethodId(2)).unwrap().is_none());
        assert!(store.paymethod(PaymethodId(1)).unwrap().is_some());
        assert_eq!(
            store.open_intents().unwrap(),
            1,
            "reg_b stays open for the reconciler"
        );
    }
}
