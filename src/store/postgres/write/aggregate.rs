//! An aggregate's row written at the version it expects, shared by the payment-method, order
//! and shipment sides: a paid creation (the row, its approved payment and its first event,
//! closing the intent and keeping the outcome under the request's key) and a save of the
//! next state (with a payment and an event when it has them).

use super::{Applied, Batch, EventRow, Params, drawn_payment, drawn_position, first};
use crate::domain::idempotency::{IdempotencyClaim, IdempotentOutcome};
use crate::domain::intent::IntentRef;
use crate::domain::{CustomerId, Payload, Payment, PaymentId, Position};
use crate::store::command::{Outcome, Rejected};
use crate::store::postgres::PgError;
use crate::store::postgres::record::int;
use tokio_postgres::types::ToSql;

/// The statements that save a kind's next states.
pub(super) struct Saved {
    /// Whether row `$1` is at version `$2` and intent (`$3`, `$4`) is open (no intent: a NULL
    /// base); when both hold, a payment id if `$5` and an event position if `$6`.
    checks: &'static str,
    /// Row `$1` takes (`$2`, version `$3`, record `$4`) if it is at version `$5`.
    update: &'static str,
}

/// The statements that create a paid aggregate.
pub(super) struct Created {
    /// Whether id `$1` is taken, customer `$2`'s key `$3` (NULL: none) has an outcome, and
    /// intent (`$4`, `$5`) is open; when nothing stands in the way, a payment id and an event
    /// position.
    checks: &'static str,
    /// Row (`$1`, customer `$2`, version `$3`, record `$4`) unless id `$1` is taken.
    insert: &'static str,
}

macro_rules! saved {
    ($table:literal, $column:literal) => {
        Saved {
            checks: concat!(
                "WITH c AS MATERIALIZED (SELECT
                     COALESCE((SELECT version = $2 FROM ",
                $table,
                " WHERE id = $1), false) AS current,
                     $3::text IS NULL
                         OR EXISTS (SELECT FROM intents WHERE base = $3 AND nonce = $4) AS open)
                 SELECT current, open,
                     CASE WHEN current AND open AND $5 THEN nextval('payment_ids') END,
                     CASE WHEN current AND open AND $6 THEN nextval('event_positions') END
                 FROM c"
            ),
            update: concat!(
                "UPDATE ",
                $table,
                " SET ",
                $column,
                " = $2, version = $3, record = $4 WHERE id = $1 AND version = $5"
            ),
        }
    };
}

macro_rules! created {
    ($table:literal) => {
        Created {
            checks: concat!(
                "WITH c AS MATERIALIZED (SELECT
                     EXISTS (SELECT FROM ",
                $table,
                " WHERE id = $1) AS taken,
                     EXISTS (SELECT FROM idempotency WHERE customer = $2 AND idem_key = $3)
                         AS recorded,
                     EXISTS (SELECT FROM intents WHERE base = $4 AND nonce = $5) AS open)
                 SELECT taken, recorded, open,
                     CASE WHEN NOT taken AND NOT recorded AND open
                         THEN nextval('payment_ids') END,
                     CASE WHEN NOT taken AND NOT recorded AND open
                         THEN nextval('event_positions') END
                 FROM c"
            ),
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (id, customer, version, record) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
        }
    };
}

pub(super) const SAVED_PAYMETHODS: Saved = saved!("paymethods", "customer");
pub(super) const SAVED_ORDERS: Saved = saved!("orders", "customer");
pub(super) const SAVED_SHIPMENTS: Saved = saved!("shipments", "status");
pub(super) const CREATED_PAYMETHODS: Created = created!("paymethods");
pub(super) const CREATED_ORDERS: Created = created!("orders");

pub(super) const STATEMENTS: &[&str] = &[
    SAVED_PAYMETHODS.checks,
    SAVED_PAYMETHODS.update,
    SAVED_ORDERS.checks,
    SAVED_ORDERS.update,
    SAVED_SHIPMENTS.checks,
    SAVED_SHIPMENTS.update,
    CREATED_PAYMETHODS.checks,
    CREATED_PAYMETHODS.insert,
    CREATED_ORDERS.checks,
    CREATED_ORDERS.insert,
];

/// A paid creation, as its command names it.
pub(super) struct Creation<'a> {
    pub statements: &'a Created,
    pub id: u64,
    pub customer: &'a CustomerId,
    pub intent: &'a IntentRef,
    pub claim: Option<&'a IdempotencyClaim>,
}

/// What a paid creation writes, made once its payment id and event position are drawn.
pub(super) struct Made {
    pub payment: Payment,
    pub version: u64,
    pub payload: Payload,
    pub record: Vec<u8>,
    /// What its key keeps, if it has one.
    pub outcome: IdempotentOutcome,
}

/// A save of an aggregate's next state, as its command names it.
pub(super) struct Save<'a> {
    pub statements: &'a Saved,
    pub id: u64,
    pub expected: u64,
    /// The intent it closes (a verified change's).
    pub intent: Option<&'a IntentRef>,
    /// Whether it records a payment (a payment id is drawn for it) and an event (a position).
    pub payment: bool,
    pub event: bool,
}

/// What a save writes, made once its ids are drawn.
pub(super) struct Next<C> {
    /// The row's second column: its customer, or a shipment's status code.
    pub column: C,
    pub version: u64,
    pub record: Vec<u8>,
    pub payment: Option<Payment>,
    /// The event and whose it is (at the row's version).
    pub event: Option<(CustomerId, Payload)>,
}

impl Batch<'_, '_> {
    /// Creates aggregate `c.id` with what `make` makes of the drawn payment id and position;
    /// rejected (in the embedded store's order) if the id is taken, the key has an outcome or
    /// the intent is not open, here or by a race lost to another replica.
    pub(super) async fn create(
        &self,
        c: Creation<'_>,
        make: impl FnOnce(PaymentId, Position) -> Result<Made, PgError>,
    ) -> Applied {
        let (id, customer) = (int(c.id)?, c.customer.as_str());
        let key = c.claim.map(|claim| claim.key.as_str());
        let checks: Params = &[&id, &customer, &key, &c.intent.base, &c.intent.nonce];
        let row = self.query_one(c.statements.checks, checks).await?;
        let (taken, recorded, open): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
        let refused = [
            (taken, Rejected::VersionConflict),
            (recorded, Rejected::KeyRecorded),
            (!open, Rejected::IntentClosed),
        ];
        if let Some(rejected) = first(&refused) {
            return Ok(Err(rejected));
        }
        let (payment_id, position) = (drawn_payment(&row, 3)?, drawn_position(&row, 4)?);
        let Made {
            payment,
            version,
            payload,
            record,
            outcome,
        } = make(payment_id, position)?;
        let event = EventRow {
            position,
            aggregate: c.id,
            customer: c.customer,
            version,
            payload: &payload,
        };
        let version = int(version)?;
        let insert: Params = &[&id, &customer, &version, &record];
        let remember = async {
            match c.claim {
                Some(claim) => self.remember(c.customer, claim, outcome).await,
                None => Ok(true),
            }
        };
        let (_, closed, _, appended, inserted, remembered) = tokio::try_join!(
            self.savepoint(),
            self.close_intent(c.intent),
            self.insert_payment(&payment),
            self.append(&event),
            self.execute(c.statements.insert, insert),
            remember,
        )?;
        let races = [
            (inserted == 0 || !appended, Rejected::VersionConflict),
            (!remembered, Rejected::KeyRecorded),
            (!closed, Rejected::IntentClosed),
        ];
        if let Some(rejected) = self.lost(&races).await? {
            return Ok(Err(rejected));
        }
        Ok(Ok(Outcome {
            position: Some(position),
            payment_id: Some(payment_id),
            ..Outcome::default()
        }))
    }

    /// Saves aggregate `s.id`'s next state, as `make` makes it of the ids drawn for it;
    /// rejected (in the embedded store's order) if the row is not at `s.expected` or the
    /// intent is not open, here or by a race lost to another replica.
    pub(super) async fn save<C: ToSql + Sync>(
        &self,
        s: Save<'_>,
        make: impl FnOnce(Option<PaymentId>, Option<Position>) -> Result<Next<C>, PgError>,
    ) -> Applied {
        let (id, expected) = (int(s.id)?, int(s.expected)?);
        let (base, nonce) = s
            .intent
            .map(|i| (i.base.as_str(), i.nonce.as_str()))
            .unzip();
        let checks: Params = &[&id, &expected, &base, &nonce, &s.payment, &s.event];
        let row = self.query_one(s.statements.checks, checks).await?;
        let (current, open): (bool, bool) = (row.get(0), row.get(1));
        let refused = [
            (!current, Rejected::VersionConflict),
            (!open, Rejected::IntentClosed),
        ];
        if let Some(rejected) = first(&refused) {
            return Ok(Err(rejected));
        }
        let payment_id = s.payment.then(|| drawn_payment(&row, 2)).transpose()?;
        let position = s.event.then(|| drawn_position(&row, 3)).transpose()?;
        let next = make(payment_id, position)?;
        let version = int(next.version)?;
        let update: Params = &[&id, &next.column, &version, &next.record, &expected];
        let event = match (&next.event, position) {
            (Some((customer, payload)), Some(position)) => Some(EventRow {
                position,
                aggregate: s.id,
                customer,
                version: next.version,
                payload,
            }),
            _ => None,
        };
        let (_, closed, _, appended, updated) = tokio::try_join!(
            self.savepoint(),
            async {
                match s.intent {
                    Some(intent) => self.close_intent(intent).await,
                    None => Ok(true),
                }
            },
            async {
                match &next.payment {
                    Some(payment) => self.insert_payment(payment).await,
                    None => Ok(()),
                }
            },
            async {
                match &event {
                    Some(event) => self.append(event).await,
                    None => Ok(true),
                }
            },
            self.execute(s.statements.update, update),
        )?;
        let races = [
            (updated == 0 || !appended, Rejected::VersionConflict),
            (!closed, Rejected::IntentClosed),
        ];
        if let Some(rejected) = self.lost(&races).await? {
            return Ok(Err(rejected));
        }
        Ok(Ok(Outcome {
            position,
            payment_id,
            ..Outcome::default()
        }))
    }
}
