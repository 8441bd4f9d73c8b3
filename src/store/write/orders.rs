//! The order aggregate's side of a write transaction: a paid order (the order, its charge and
//! `OrderPlaced` together), an order's later states (with a refund's record when there is
//! one), and the cancellation saga's steps.

use super::{StoreError, Tables};
use crate::domain::idempotency::IdempotentOutcome;
use crate::domain::order::{OrderEvent, SagaStep, StoredOrder};
use crate::domain::{OrderId, Payload};
use crate::store::codec::{decode, encode};
use crate::store::command::{Outcome, PlaceOrder, Rejected, SaveOrder};
use crate::store::tables::OF_ORDERS;
use redb::ReadableTable;

type Applied = Result<Result<Outcome, Rejected>, StoreError>;

impl Tables<'_> {
    pub(super) fn stored_order(&self, id: OrderId) -> Result<Option<StoredOrder>, StoreError> {
        self.txn
            .open_table(crate::store::tables::ORDERS)?
            .get(id.0)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    fn put_order(&mut self, stored: &StoredOrder) -> Result<(), StoreError> {
        self.txn
            .open_table(crate::store::tables::ORDERS)?
            .insert(stored.order.id.0, encode(stored)?.as_slice())?;
        Ok(())
    }

    /// A paid order; closes its intent and keeps its outcome under its key.
    pub(super) fn place_order(&mut self, place: &PlaceOrder) -> Applied {
        let PlaceOrder {
            order: stored,
            payment,
            intent,
            idempotency,
        } = place;
        let customer = &stored.order.customer_id;
        if self.stored_order(stored.order.id)?.is_some() {
            return Ok(Err(Rejected::VersionConflict));
        }
        if self.key_recorded(customer, idempotency.as_ref())? {
            return Ok(Err(Rejected::KeyRecorded));
        }
        if !self.intent_is_open(intent)? {
            return Ok(Err(Rejected::IntentClosed));
        }
        self.close_intent(intent)?;
        let mut stored = stored.clone();
        let order = &mut stored.order;
        let mut payment = payment.clone();
        payment.order_id = Some(order.id);
        order.payment_id = self.insert_payment(payment)?;
        let event = Payload::Order(OrderEvent::Placed {
            order: order.clone(),
        });
        let position = self.append_event(order.id.0, customer, order.version, event)?;
        stored.last_position = position;
        self.put_order(&stored)?;
        let order = &stored.order;
        self.by_customer
            .insert((customer.as_str(), OF_ORDERS, order.id.0), ())?;
        if let Some(claim) = idempotency {
            let outcome = IdempotentOutcome::OrderPlaced {
                order_id: order.id,
                position,
            };
            self.remember(customer, claim, outcome)?;
        }
        Ok(Ok(Outcome {
            position: Some(position),
            payment_id: Some(order.payment_id),
            ..Outcome::default()
        }))
    }

    /// The order's next state, if the stored one is still at `expected_version`.
    pub(super) fn save_order(&mut self, save: &SaveOrder) -> Applied {
        let SaveOrder {
            order: stored,
            expected_version,
            change,
            refund,
        } = save;
        let id = stored.order.id;
        match self.stored_order(id)? {
            Some(current) if current.order.version == *expected_version => {}
            _ => return Ok(Err(Rejected::VersionConflict)),
        }
        let mut stored = stored.clone();
        let mut outcome = Outcome::default();
        if let Some(refund) = refund {
            let mut refund = refund.clone();
            refund.order_id = Some(id);
            let payment_id = self.insert_payment(refund)?;
            stored.order.refund_payment_id = Some(payment_id);
            outcome.payment_id = Some(payment_id);
        }
        if let Some(change) = change {
            let order = &stored.order;
            let event = Payload::Order(change.event(order.clone()));
            let position =
                self.append_event(id.0, &order.customer_id.clone(), order.version, event)?;
            stored.last_position = position;
            outcome.position = Some(position);
        }
        self.put_order(&stored)?;
        Ok(Ok(outcome))
    }

    pub(super) fn plan_saga_steps(
        &mut self,
        steps: &[(OrderId, SagaStep)],
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(crate::store::tables::SAGA_STEPS)?;
        for (order, step) in steps {
            table.insert((order.0, step.code()), ())?;
        }
        Ok(())
    }

    pub(super) fn finish_saga_step(
        &mut self,
        order: OrderId,
        step: SagaStep,
    ) -> Result<(), StoreError> {
        self.txn
            .open_table(crate::store::tables::SAGA_STEPS)?
            .remove((order.0, step.code()))?;
        Ok(())
    }
}
