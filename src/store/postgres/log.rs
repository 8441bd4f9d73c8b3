//! The event log in commit order.
//!
//! An event's `position` comes from a sequence, and sequence values are handed out when a
//! transaction asks, not when it commits: a transaction that took position 7 can commit after
//! one that took 8. A reader that remembered "I have read up to 8" would never see 7. So every
//! event row carries its transaction's id (`xid8`), and a reader takes only rows whose
//! transaction is older than every transaction still running
//! (`xid < pg_snapshot_xmin(pg_current_snapshot())`): those transactions have all ended, so
//! no row can appear below that line any more. Rows are read in (xid, position) order from a
//! [`Cursor`] of the last one taken, so no event is ever skipped or taken twice.
//!
//! The cost: one long transaction holds every reader back until it ends, even for events
//! committed after it began.

use super::{PgError, Postgres};
use tokio_postgres::Transaction;

pub use crate::store::Cursor;

impl Cursor {
    /// The cursor in the first two columns of `row`: `xid::text` and `position`.
    pub(super) fn from_row(row: &tokio_postgres::Row) -> Result<Self, PgError> {
        let xid: &str = row.get(0);
        Ok(Self {
            xid: xid
                .parse()
                .map_err(|_| PgError::Decode(format!("xid8 {xid:?}")))?,
            position: row.get(1),
        })
    }
}

/// An event to append: the aggregate it belongs to, its version, its encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: String,
    pub aggregate: i64,
    pub version: i64,
    pub customer: String,
    pub payload: Vec<u8>,
}

/// An event as a reader takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub cursor: Cursor,
    /// When its transaction stored it, in milliseconds since the Unix epoch.
    pub recorded_at: i64,
    pub event: NewEvent,
}

/// Appends `events` within `txn` (they become readable when it commits, in its place in
/// commit order); the positions they were given, in the same order.
pub async fn append(txn: &Transaction<'_>, events: &[NewEvent]) -> Result<Vec<i64>, PgError> {
    let insert = txn
        .prepare(
            "INSERT INTO events (kind, aggregate, version, customer, payload)
             VALUES ($1, $2, $3, $4, $5) RETURNING position",
        )
        .await?;
    // Sent together, answered in order: one round trip for the batch (tokio-postgres
    // pipelines the queries of one connection that are polled together).
    let insert = &insert;
    let inserts = events.iter().map(|e| async move {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&e.kind, &e.aggregate, &e.version, &e.customer, &e.payload];
        txn.query_one(insert, &params).await
    });
    let rows = futures_util::future::try_join_all(inserts).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

impl Postgres {
    /// Up to `limit` events after `after` in commit order, among those no running
    /// transaction can still add to; none when the reader has caught up.
    pub async fn events_after(
        &self,
        after: Cursor,
        limit: i64,
    ) -> Result<Vec<LoggedEvent>, PgError> {
        let client = self.client().await?;
        // `ORDER BY events.xid`: a bare `xid` would name the output column `xid::text`, and
        // text puts transaction 10003 before 9529 (the relay then published events out of
        // commit order, and the readers skipped those behind).
        let rows = client
            .query(
                "SELECT xid::text, position, kind, aggregate, version, customer, payload,
                        (extract(epoch FROM recorded_at) * 1000)::bigint
                 FROM events
                 WHERE (xid, position) > ($1::text::xid8, $2)
                   AND xid < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY events.xid, events.position
                 LIMIT $3",
                &[&after.xid.to_string(), &after.position, &limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LoggedEvent {
                    cursor: Cursor::from_row(row)?,
                    recorded_at: row.get(7),
                    event: NewEvent {
                        kind: row.get(2),
                        aggregate: row.get(3),
                        version: row.get(4),
                        customer: row.get(5),
                        payload: row.get(6),
                    },
                })
            })
            .collect()
    }
}

/// Whether a reader of the log has handled an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Yes,
    NotYet,
    /// No event has that position (yet): the log's last position is `head`.
    Unknown {
        head: i64,
    },
}

impl Postgres {
    /// Whether the reader `reader` has handled the event at `position`: it has if the event
    /// is at or before the reader's cursor in commit order.
    pub async fn applied(&self, reader: &str, position: i64) -> Result<Applied, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT e.position IS NOT NULL,
                        coalesce((e.xid, e.position) <= (c.xid, c.position), false),
                        (SELECT coalesce(max(position), 0) FROM events)
                 FROM (SELECT 1) AS one
                 LEFT JOIN events e ON e.position = $2
                 LEFT JOIN cursors c ON c.name = $1",
                &[&reader, &position],
            )
            .await?;
        Ok(match (row.get(0), row.get(1)) {
            (true, true) => Applied::Yes,
            (true, false) => Applied::NotYet,
            (false, _) => Applied::Unknown { head: row.get(2) },
        })
    }
}

impl Postgres {
    /// The position of the last event written (0 before the first): positions are handed out
    /// in the order transactions ask for them, so this is the highest, not the last to commit.
    pub async fn last_position(&self) -> Result<crate::domain::Position, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT coalesce(max(position), 0) FROM events", &[])
            .await?;
        Ok(crate::domain::Position(
            u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        ))
    }
}
