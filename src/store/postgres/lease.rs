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
        Ok(self.checkpoint(name).await?.at)
    }

    /// The reader `name`'s checkpoint: its cursor and its place in the bus's stream.
    pub async fn checkpoint(&self, name: &str) -> Result<Checkpoint, PgError> {
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

/// A statement's parameter, owned.
pub(super) type Param = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

/// A log reader's first checkpoint: no row yet (or one still at the start).
pub(super) const ADVANCE_FIRST: &str = "INSERT INTO cursors (name, xid, position, stream)
     VALUES ($1, $2::text::xid8, $3, $4)
     ON CONFLICT (name) DO UPDATE
         SET xid = EXCLUDED.xid, position = EXCLUDED.position, stream = EXCLUDED.stream
         WHERE cursors.xid = '0'::xid8 AND cursors.position = 0";
/// A log reader's checkpoint moved from where it read its batch.
pub(super) const ADVANCE: &str =
    "UPDATE cursors SET xid = $2::text::xid8, position = $3, stream = $4
     WHERE name = $1 AND xid = $5::text::xid8 AND position = $6";

/// The statement and the parameters that move the reader `name`'s checkpoint as `advance`
/// says, only if it is still at `advance.from` (see [`Advance`]): one row changed if it
/// moved.
pub(super) fn advancing(
    name: &str,
    advance: &Advance,
) -> Result<(&'static str, Vec<Param>), PgError> {
    let to = advance.to;
    let stream = i64::try_from(to.stream).map_err(|_| PgError::Decode("stream".into()))?;
    let mut params: Vec<Param> = vec![
        Box::new(name.to_owned()),
        Box::new(to.at.xid.to_string()),
        Box::new(to.at.position),
        Box::new(stream),
    ];
    if advance.from == Cursor::default() {
        return Ok((ADVANCE_FIRST, params));
    }
    params.push(Box::new(advance.from.xid.to_string()));
    params.push(Box::new(advance.from.position));
    Ok((ADVANCE, params))
}

/// Moves the reader `name`'s checkpoint within `txn` (the transaction that writes what the
/// reader made of its batch), only if it is still at `advance.from`: false, and nothing
/// moved, if another reader moved it.
pub async fn advance_checkpoint_in(
    txn: &Transaction<'_>,
    name: &str,
    advance: &Advance,
) -> Result<bool, PgError> {
    let (sql, params) = advancing(name, advance)?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|p| p.as_ref() as _).collect();
    Ok(txn.execute(sql, &params).await? == 1)
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
