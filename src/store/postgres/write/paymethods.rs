//! The payment-method aggregate's side of a batch: a verified registration or change (the
//! method, its payment and its event together), a declined verification, a removal.

use super::aggregate::{CREATED_PAYMETHODS, Creation, Made, Next, SAVED_PAYMETHODS, Save};
use super::{Applied, Batch, EventRow, Params, drawn_payment, first, must};
use crate::domain::idempotency::IdempotentOutcome;
use crate::domain::{
    Payload, Payment, PaymentId, PaymethodEvent, PaymethodId, Position, StoredMethod,
};
use crate::store::command::{Change, Outcome, RecordDeclined, Register, Rejected};
use crate::store::postgres::record::{decode, encode, int, uint};

/// Row `$1`'s record and, if it is at version `$2`, the removal event's position.
const REMOVE_CHECKS: &str = "SELECT record,
         CASE WHEN version = $2 THEN nextval('event_positions') END
     FROM paymethods WHERE id = $1";
const REMOVE: &str = "DELETE FROM paymethods WHERE id = $1 AND version = $2";
/// Whether customer `$1`'s key `$2` has an outcome and intent (`$3`, `$4`) is open; when the
/// command may go ahead, its payment's id.
const DECLINED_CHECKS: &str = "WITH c AS MATERIALIZED (SELECT
         EXISTS (SELECT FROM idempotency WHERE customer = $1 AND idem_key = $2) AS recorded,
         EXISTS (SELECT FROM intents WHERE base = $3 AND nonce = $4) AS open)
     SELECT recorded, open,
         CASE WHEN NOT recorded AND open THEN nextval('payment_ids') END
     FROM c";

pub(super) const STATEMENTS: &[&str] = &[REMOVE_CHECKS, REMOVE, DECLINED_CHECKS];

impl Batch<'_, '_> {
    /// A verified registration; closes its intent and keeps its outcome under its key.
    pub(super) async fn register(&self, register: &Register) -> Applied {
        let Register {
            method,
            payment,
            intent,
            idempotency,
        } = register;
        let creation = Creation {
            statements: &CREATED_PAYMETHODS,
            id: method.method.id.0,
            customer: &method.method.customer_id,
            intent,
            claim: idempotency.as_ref(),
        };
        self.create(creation, |payment_id, position| {
            let (stored, payment) = verified(method, payment, payment_id, position);
            let method = stored.method.clone();
            Ok(Made {
                payment,
                version: method.version,
                payload: Payload::Paymethod(PaymethodEvent::Registered {
                    method: method.clone(),
                }),
                record: encode(&stored)?,
                outcome: IdempotentOutcome::Registered { method, position },
            })
        })
        .await
    }

    /// A verified change, decided on its expected version; closes its intent.
    pub(super) async fn change(&self, change: &Change) -> Applied {
        let Change {
            method,
            expected_version,
            previous,
            payment,
            intent,
        } = change;
        let save = Save {
            statements: &SAVED_PAYMETHODS,
            id: method.method.id.0,
            expected: *expected_version,
            intent: Some(intent),
            payment: true,
            event: true,
        };
        self.save(save, |payment_id, position| {
            let (stored, payment) = verified(method, payment, must(payment_id)?, must(position)?);
            let method = &stored.method;
            let event = PaymethodEvent::Changed {
                previous: previous.clone(),
                method: method.clone(),
            };
            Ok(Next {
                column: method.customer_id.as_str().to_owned(),
                version: method.version,
                record: encode(&stored)?,
                payment: Some(payment),
                event: Some((method.customer_id.clone(), Payload::Paymethod(event))),
            })
        })
        .await
    }

    /// A declined verification: only its payment record; closes its intent and keeps the
    /// outcome under its key.
    pub(super) async fn record_declined(&self, declined: &RecordDeclined) -> Applied {
        let RecordDeclined {
            payment,
            intent,
            idempotency,
        } = declined;
        let customer = &payment.customer_id;
        let key = idempotency.as_ref().map(|claim| claim.key.as_str());
        let checks: Params = &[&customer.as_str(), &key, &intent.base, &intent.nonce];
        let row = self.query_one(DECLINED_CHECKS, checks).await?;
        let (recorded, open): (bool, bool) = (row.get(0), row.get(1));
        let refused = [
            (recorded, Rejected::KeyRecorded),
            (!open, Rejected::IntentClosed),
        ];
        if let Some(rejected) = first(&refused) {
            return Ok(Err(rejected));
        }
        let payment_id = drawn_payment(&row, 2)?;
        let payment = Payment {
            id: payment_id,
            ..payment.clone()
        };
        let remember = async {
            match idempotency {
                Some(claim) => {
                    let outcome = IdempotentOutcome::Declined { payment_id };
                    self.remember(customer, claim, outcome).await
                }
                None => Ok(true),
            }
        };
        let (_, closed, _, remembered) = tokio::try_join!(
            self.savepoint(),
            self.close_intent(intent),
            self.insert_payment(&payment),
            remember,
        )?;
        let races = [
            (!remembered, Rejected::KeyRecorded),
            (!closed, Rejected::IntentClosed),
        ];
        if let Some(rejected) = self.lost(&races).await? {
            return Ok(Err(rejected));
        }
        Ok(Ok(Outcome {
            payment_id: Some(payment_id),
            ..Outcome::default()
        }))
    }

    /// A removal at the expected version: the row goes, `PaymentMethodRemoved` is recorded.
    pub(super) async fn remove(&self, id: PaymethodId, expected: u64) -> Applied {
        let (key, version) = (int(id.0)?, int(expected)?);
        let removal: Params = &[&key, &version];
        let Some(row) = self.query_opt(REMOVE_CHECKS, removal).await? else {
            return Ok(Err(Rejected::VersionConflict));
        };
        let Some(position) = row.get::<_, Option<i64>>(1) else {
            return Ok(Err(Rejected::VersionConflict));
        };
        let position = Position(uint(position)?);
        let stored: StoredMethod = decode(row.get(0))?;
        let method = &stored.method;
        let payload = Payload::Paymethod(PaymethodEvent::Removed {
            attrs: method.attrs(),
        });
        // A removal is one more change.
        let event = EventRow {
            position,
            aggregate: id.0,
            customer: &method.customer_id,
            version: method.version + 1,
            payload: &payload,
        };
        let (_, removed, appended) = tokio::try_join!(
            self.savepoint(),
            self.execute(REMOVE, removal),
            self.append(&event),
        )?;
        let races = [(removed == 0 || !appended, Rejected::VersionConflict)];
        if let Some(rejected) = self.lost(&races).await? {
            return Ok(Err(rejected));
        }
        Ok(Ok(Outcome {
            position: Some(position),
            ..Outcome::default()
        }))
    }
}

/// The method as its verification leaves it, and that verification's payment: the payment
/// under its drawn id, for the method; the method naming it, and its event's position.
fn verified(
    method: &StoredMethod,
    payment: &Payment,
    payment_id: PaymentId,
    position: Position,
) -> (StoredMethod, Payment) {
    let mut stored = method.clone();
    stored.method.verification_payment_id = payment_id;
    stored.last_position = position;
    let payment = Payment {
        id: payment_id,
        paymethod_id: Some(stored.method.id),
        ..payment.clone()
    };
    (stored, payment)
}
