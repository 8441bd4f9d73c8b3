//! Leases and cursors: what lets exactly one replica at a time do a job (the relay, a
//! consumer group) and carry on where the last holder stopped.
//!
//! A lease is a row with a holder and an expiry. The holder renews it well before it
//! expires; another replica takes it only once it has expired, so a replica that dies (or
//! stalls past the expiry) loses it. A cursor moves only while its mover holds the lease
//! (checked in the same statement), so a holder that lost its lease without noticing cannot
//! move the cursor of the one that took it over.

use super::{Cursor, PgError, Postgres};
use crate::store::{Advance, Checkpoint};
use std::time::Duration;
use tokio_postgres::Transaction;

impl Postgres {
    /// Takes or renews the lease `name` for `holder` for `ttl`: true if `holder` holds it now.
    pub async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, PgError> {
        let ttl_ms = ttl.as_millis() as f64;
        let client = self.client().await?;
        let taken = client
            .query_opt(
                "INSERT INTO leases (name, holder, expires_at)
                 VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
                 ON CONFLICT (name) DO UPDATE
                     SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                     WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp()
                 RETURNING holder",
                &[&name, &holder, &ttl_ms],
            )
            .await?;
        Ok(taken.is_some())
    }

    /// Gives the lease up at once (a clean stop), if `holder` holds it.
    pub async fn release(&self, name: &str, holder: &str) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await?;
        Ok(())
    }

    /// Where the reader `name` has got ([`Cursor::default`] before its first event).
    pub async fn cursor(&self, name: &str) -> Result<Cursor, PgError> {
        Ok(self.checkpoint_of(name).await?.at)
    }

    /// The reader `name`'s checkpoint: its cursor and its place in the bus's stream.
    pub async fn checkpoint_of(&self, name: &str) -> Result<Checkpoint, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT xid::text, position, stream FROM cursors WHERE name = $1",
                &[&name],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Checkpoint::default());
        };
        let stream: i64 = row.get(2);
        Ok(Checkpoint {
            at: Cursor::from_row(&row)?,
            stream: u64::try_from(stream).unwrap_or(0),
        })
    }

    /// Moves the cursor `name` to `to`, provided `holder` holds the lease of the same name
    /// and it has not expired: false (and nothing moved) otherwise.
    pub async fn advance(&self, name: &str, holder: &str, to: Cursor) -> Result<bool, PgError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let moved = advance_in(&txn, name, holder, to).await?;
        txn.commit().await?;
        Ok(moved)
    }
}

/// Moves the reader `name`'s checkpoint within `txn` (the transaction that writes what the
/// reader made of its batch), only if it is still at `advance.from`: false, and nothing
/// moved, if another reader moved it (see [`Advance`]).
pub async fn advance_checkpoint_in(
    txn: &Transaction<'_>,
    name: &str,
    advance: &Advance,
) -> Result<bool, PgError> {
    let to = advance.to;
    let stream = i64::try_from(to.stream).map_err(|_| PgError::Decode("stream".into()))?;
    let (xid, from_xid) = (to.at.xid.to_string(), advance.from.xid.to_string());
    let moved = if advance.from == Cursor::default() {
        // A reader's first batch: no row yet, unless another reader made one first.
        txn.execute(
            "INSERT INTO cursors (name, xid, position, stream)
             VALUES ($1, $2::text::xid8, $3, $4)
             ON CONFLICT (name) DO UPDATE
                 SET xid = EXCLUDED.xid, position = EXCLUDED.position, stream = EXCLUDED.stream
                 WHERE cursors.xid = '0'::xid8 AND cursors.position = 0",
            &[&name, &xid, &to.at.position, &stream],
        )
        .await?
    } else {
        txn.execute(
            "UPDATE cursors SET xid = $2::text::xid8, position = $3, stream = $4
             WHERE name = $1 AND xid = $5::text::xid8 AND position = $6",
            &[
                &name,
                &xid,
                &to.at.position,
                &stream,
                &from_xid,
                &advance.from.position,
            ],
        )
        .await?
    };
    Ok(moved == 1)
}

/// [`Postgres::advance`] within `txn`, so that the cursor moves with what was done.
pub async fn advance_in(
    txn: &Transaction<'_>,
    name: &str,
    holder: &str,
    to: Cursor,
) -> Result<bool, PgError> {
    let moved = txn
        .execute(
            "INSERT INTO cursors (name, xid, position)
             SELECT $1, $3::text::xid8, $4
             WHERE EXISTS (SELECT 1 FROM leases
                           WHERE name = $1 AND holder = $2
                             AND expires_at > clock_timestamp())
             ON CONFLICT (name) DO UPDATE
                 SET xid = EXCLUDED.xid, position = EXCLUDED.position",
            &[&name, &holder, &to.xid.to_string(), &to.position],
        )
        .await?;
    Ok(moved == 1)
}
