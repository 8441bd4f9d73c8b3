//! What more than one side of a batch writes: a payment record, an event (and its
//! message's place in its customer's listing), an intent closed, an outcome kept under its
//! key, a reader's checkpoint, an audit entry.

use super::{Applied, Batch, Params};
use crate::auth::AuditEntry;
use crate::domain::idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentOutcome};
use crate::domain::intent::IntentRef;
use crate::domain::message::Message;
use crate::domain::{CustomerId, Payload, Payment, Position, Timestamp};
use crate::store::Advance;
use crate::store::command::{Outcome, Rejected};
use crate::store::postgres::PgError;
use crate::store::postgres::record::{encode, int};
use crate::store::tables::index_ms;
use tokio_postgres::types::ToSql;

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
const RECORD_AUDIT: &str = "INSERT INTO audit (id, record) VALUES (nextval('audit_ids'), $1)";

pub(super) const STATEMENTS: &[&str] = &[
    INSERT_PAYMENT,
    APPEND,
    CLOSE_INTENT,
    REMEMBER,
    super::super::lease::ADVANCE_FIRST,
    super::super::lease::ADVANCE,
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

    /// A log reader's batch: moves the reader's checkpoint, only if it is still where the
    /// reader read the batch from (else the command is rejected and writes nothing), then
    /// `write`s what the reader made of the batch.
    pub(super) async fn advancing(
        &self,
        reader: &str,
        advance: &Advance,
        write: impl Future<Output = Result<(), PgError>>,
    ) -> Applied {
        let (sql, params) = super::super::lease::advancing(reader, advance)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        if self.execute(sql, &params).await? != 1 {
            return Ok(Err(Rejected::VersionConflict));
        }
        write.await?;
        Ok(Ok(Outcome::default()))
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
