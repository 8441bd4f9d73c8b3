//! What more than one side of a batch writes: a payment record, an event (and its
//! message's place in its customer's listing), an intent closed, an outcome kept under its
//! key, a reader's checkpoint, an audit entry.

use super::{Batch, Params};
use crate::auth::AuditEntry;
use crate::domain::idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentOutcome};
use crate::domain::intent::IntentRef;
use crate::domain::message::Message;
use crate::domain::{CustomerId, Payload, Payment, Position, Timestamp};
use crate::store::postgres::PgError;
use crate::store::postgres::record::{encode, int};
use crate::store::tables::index_ms;

const INSERT_PAYMENT: &str =
    "INSERT INTO payments (id, customer, paymethod, record) VALUES ($1, $2, $3, $4)";
const APPEND: &str = "WITH event AS (
         INSERT INTO events (position, kind, aggregate, version, customer, payload)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING RETURNING position, customer),
     listed AS (
         INSERT INTO customer_messages (customer, id)
         SELECT customer, position FROM event WHERE $7)
     SELECT count(*) FROM event";
const CLOSE_INTENT: &str = "DELETE FROM intents WHERE base = $1 AND nonce = $2";
const REMEMBER: &str = "INSERT INTO idempotency (customer, idem_key, created_ms, record)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const CHECKPOINT: &str = "INSERT INTO checkpoints (name, position) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position";
const RECORD_AUDIT: &str = "INSERT INTO audit (id, record) VALUES (nextval('audit_ids'), $1)";

pub(super) const STATEMENTS: &[&str] = &[
    INSERT_PAYMENT,
    APPEND,
    CLOSE_INTENT,
    REMEMBER,
    CHECKPOINT,
    RECORD_AUDIT,
];

impl Batch<'_, '_> {
    /// Writes `payment` (its id drawn already); whose it is and its method are its columns.
    pub(super) async fn insert_payment(&self, payment: &Payment) -> Result<(), PgError> {
        let method = payment.paymethod_id.map(|m| int(m.0)).transpose()?;
        let params: Params = &[
            &int(payment.id.0)?,
            &payment.customer_id.as_str(),
            &method,
            &encode(payment)?,
        ];
        self.execute(INSERT_PAYMENT, params).await?;
        Ok(())
    }

    /// Writes `event` at its drawn position, listing its message (if it has one) for its
    /// customer; false if the aggregate already has an event of that version (written by
    /// another replica: the command lost a race).
    pub(super) async fn append(&self, event: &EventRow<'_>) -> Result<bool, PgError> {
        let payload = encode(event.payload)?;
        let message = Message::is_for_payload(event.payload);
        let params: Params = &[
            &int(event.position.0)?,
            &kind(event.payload),
            &int(event.aggregate)?,
            &int(event.version)?,
            &event.customer.as_str(),
            &payload,
            &message,
        ];
        let row = self.query_one(APPEND, params).await?;
        Ok(row.get::<_, i64>(0) == 1)
    }

    /// Deletes `intent` if it is the open one; false if it is not (closed by another).
    pub(super) async fn close_intent(&self, intent: &IntentRef) -> Result<bool, PgError> {
        let closed = self
            .execute(CLOSE_INTENT, &[&intent.base, &intent.nonce])
            .await?;
        Ok(closed == 1)
    }

    /// Keeps `outcome` under `claim`'s key; false if the key has one (another's).
    pub(super) async fn remember(
        &self,
        customer: &CustomerId,
        claim: &IdempotencyClaim,
        outcome: IdempotentOutcome,
    ) -> Result<bool, PgError> {
        let record = IdempotencyRecord {
            fingerprint: claim.fingerprint.clone(),
            outcome,
            created_at: Timestamp::now(),
        };
        let params: Params = &[
            &customer.as_str(),
            &claim.key.as_str(),
            &int(index_ms(record.created_at))?,
            &encode(&record)?,
        ];
        let kept = self.execute(REMEMBER, params).await?;
        Ok(kept == 1)
    }

    /// Moves the reader `name`'s checkpoint to `position`.
    pub(super) async fn checkpoint(&self, name: &str, position: Position) -> Result<(), PgError> {
        self.execute(CHECKPOINT, &[&name, &int(position.0)?])
            .await?;
        Ok(())
    }

    /// Appends `audit` to the audit log under the next audit id (its own is not read).
    pub(super) async fn record_audit(&self, audit: &AuditEntry) -> Result<(), PgError> {
        self.execute(RECORD_AUDIT, &[&encode(audit)?]).await?;
        Ok(())
    }
}

/// An event to append, at the position its command drew.
pub(super) struct EventRow<'a> {
    pub position: Position,
    pub aggregate: u64,
    pub customer: &'a CustomerId,
    /// The aggregate's version after it.
    pub version: u64,
    pub payload: &'a Payload,
}

/// The aggregate kind an event's payload belongs to (the actors' `Aggregate::KIND`).
fn kind(payload: &Payload) -> &'static str {
    match payload {
        Payload::Paymethod(_) => "paymethod",
        Payload::Order(_) => "order",
        Payload::Shipment(_) => "shipment",
    }
}
