//! Reads for the reconciler: open intents by age, refunds owed, and named settings.

use crate::domain::Timestamp;
use crate::domain::intent::{Intent, RefundOwed};
use crate::store::postgres::record::{at_most, int, uint};
use crate::store::postgres::{PgError, Postgres};
use crate::store::tables::index_ms;

impl Postgres {
    /// Open intents opened before `before`, oldest first (by open time, then base), at most
    /// `limit` of them; with `after`, only those that come after that intent (so a caller can
    /// page past intents it could not settle).
    pub async fn open_intents_before(
        &self,
        before: Timestamp,
        after: Option<&Intent>,
        limit: usize,
    ) -> Result<Vec<Intent>, PgError> {
        // Every open time is at least 0: (-1, '') is before the first intent.
        let (after_ms, after_base) = match after {
            Some(intent) => (int(index_ms(intent.opened_at))?, intent.base.as_str()),
            None => (-1, ""),
        };
        let sql = "SELECT record FROM intents
                   WHERE opened_ms < $1 AND (opened_ms, base) > ($2, $3::text)
                   ORDER BY opened_ms, base LIMIT $4";
        let cutoff = int(index_ms(before))?;
        self.records(sql, &[&cutoff, &after_ms, &after_base, &at_most(limit)])
            .await
    }

    /// How many intents are open.
    pub async fn open_intents(&self) -> Result<u64, PgError> {
        let row = self.row("SELECT count(*) FROM intents", &[]).await?;
        row.map_or(Ok(0), |row| uint(row.get(0)))
    }

    /// Refunds owed, by authorization, after the authorization `after` when given, at most
    /// `limit` of them.
    pub async fn refunds_owed(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RefundOwed>, PgError> {
        let sql = "SELECT record FROM refunds_owed
                   WHERE $1::text IS NULL OR auth > $1 ORDER BY auth LIMIT $2";
        self.records(sql, &[&after, &at_most(limit)]).await
    }

    /// A named setting kept with `Command::PutMeta`.
    pub async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, PgError> {
        let row = self
            .row("SELECT value FROM meta WHERE name = $1", &[&name])
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}
