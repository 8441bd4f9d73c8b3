//! Id sequences across replicas: a reservation takes the next `count` ids of a sequence in
//! one statement (the row's lock orders reservers), so two replicas never get the same id.

use super::{PgError, Postgres};

/// Takes `$2` ids of the sequence `$1` (creating it at 1); the first of them. The row's lock
/// orders reservers, and holds until the reserving transaction ends.
pub(super) const RESERVE: &str = "INSERT INTO id_sequences (name, next) VALUES ($1, 1 + $2::bigint)
     ON CONFLICT (name) DO UPDATE SET next = id_sequences.next + $2::bigint
     RETURNING next - $2::bigint";

impl Postgres {
    /// Reserves the next `count` ids of `sequence`; the first of them (they run to
    /// `first + count - 1`). Ids start at 1.
    pub async fn reserve_ids(&self, sequence: &str, count: u64) -> Result<u64, PgError> {
        let count = i64::try_from(count.max(1))
            .map_err(|_| PgError::Decode(format!("an id block of {count}")))?;
        let client = self.client().await?;
        let row = client.query_one(RESERVE, &[&sequence, &count]).await?;
        let first: i64 = row.get(0);
        u64::try_from(first).map_err(|_| PgError::Decode(format!("id {first}")))
    }
}
