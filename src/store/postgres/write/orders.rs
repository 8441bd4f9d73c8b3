//! The order aggregate's side of a batch: a paid order (the order, its charge and
//! `OrderPlaced` together), an order's later states (with a refund's record when there is
//! one), and the cancellation saga's steps.

use super::aggregate::{CREATED_ORDERS, Creation, Made, Next, SAVED_ORDERS, Save};
use super::{Applied, Batch};
use crate::domain::idempotency::IdempotentOutcome;
use crate::domain::order::{OrderEvent, SagaStep};
use crate::domain::{OrderId, Payload, Payment};
use crate::store::command::{PlaceOrder, SaveOrder};
use crate::store::postgres::PgError;
use crate::store::postgres::record::{encode, int};
use futures_util::future::try_join_all;

const PLAN_STEP: &str =
    "INSERT INTO saga_steps (order_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const FINISH_STEP: &str = "DELETE FROM saga_steps WHERE order_id = $1 AND step = $2";

pub(super) const STATEMENTS: &[&str] = &[PLAN_STEP, FINISH_STEP];

impl Batch<'_, '_> {
    /// A paid order; closes its intent and keeps its outcome under its key.
    pub(super) async fn place_order(&self, place: &PlaceOrder) -> Applied {
        let PlaceOrder {
            order,
            payment,
            intent,
            idempotency,
        } = place;
        let creation = Creation {
            statements: &CREATED_ORDERS,
            id: order.order.id.0,
            customer: &order.order.customer_id,
            intent,
            claim: idempotency.as_ref(),
        };
        self.create(creation, |payment_id, position| {
            let mut stored = order.clone();
            stored.order.payment_id = payment_id;
            stored.last_position = position;
            let order = &stored.order;
            let payment = Payment {
                id: payment_id,
                order_id: Some(order.id),
                ..payment.clone()
            };
            Ok(Made {
                payment,
                version: order.version,
                payload: Payload::Order(OrderEvent::Placed {
                    order: order.clone(),
                }),
                record: encode(&stored)?,
                outcome: IdempotentOutcome::OrderPlaced {
                    order_id: order.id,
                    position,
                },
            })
        })
        .await
    }

    /// The order's next state, if the stored one is still at the expected version: with
    /// the refund's payment record (whose id the order then names) and the change's event.
    pub(super) async fn save_order(&self, save: &SaveOrder) -> Applied {
        let SaveOrder {
            order,
            expected_version,
            change,
            refund,
        } = save;
        let id = order.order.id;
        let saved = Save {
            statements: &SAVED_ORDERS,
            id: id.0,
            expected: *expected_version,
            intent: None,
            payment: refund.is_some(),
            event: change.is_some(),
        };
        self.save(saved, |payment_id, position| {
            let mut stored = order.clone();
            let payment = match (refund, payment_id) {
                (Some(refund), Some(payment_id)) => {
                    stored.order.refund_payment_id = Some(payment_id);
                    Some(Payment {
                        id: payment_id,
                        order_id: Some(id),
                        ..refund.clone()
                    })
                }
                _ => None,
            };
            let order = stored.order.clone();
            let event = match (change, position) {
                (Some(change), Some(position)) => {
                    stored.last_position = position;
                    let payload = Payload::Order(change.event(order.clone()));
                    Some((order.customer_id.clone(), payload))
                }
                _ => None,
            };
            Ok(Next {
                column: order.customer_id.as_str().to_owned(),
                version: order.version,
                record: encode(&stored)?,
                payment,
                event,
            })
        })
        .await
    }

    /// Saga steps to carry out.
    pub(super) async fn plan_saga_steps(
        &self,
        steps: &[(OrderId, SagaStep)],
    ) -> Result<(), PgError> {
        let plans = steps.iter().map(|(order, step)| async move {
            self.execute(PLAN_STEP, &[&int(order.0)?, &i16::from(step.code())])
                .await
        });
        try_join_all(plans).await?;
        Ok(())
    }

    /// A saga step carried out.
    pub(super) async fn finish_saga_step(
        &self,
        order: OrderId,
        step: SagaStep,
    ) -> Result<(), PgError> {
        self.execute(FINISH_STEP, &[&int(order.0)?, &i16::from(step.code())])
            .await?;
        Ok(())
    }
}
