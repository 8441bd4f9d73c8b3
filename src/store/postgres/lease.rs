//! Leases and cursors: what lets exactly one replica at a time do a job (the relay, a
//! consumer group) and carry on where the last holder stopped.
//!
//! A lease is a row with a holder and an expiry. The holder renews it well before it
//! expires; another replica takes it only once it has expired, so a replica that dies (or
//! stalls past the expiry) loses it. A cursor moves only while its mover holds the lease
//! (checked in the same statement), so a holder that lost its lease without noticing cannot
//! move the cursor of the one that took it over.

use super::{Cursor, PgError, Postgres};
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
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT xid::text, position FROM cursors WHERE name = $1",
                &[&name],
            )
            .await?;
        row.map(|row| Cursor::from_row(&row))
            .unwrap_or(Ok(Cursor::default()))
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
