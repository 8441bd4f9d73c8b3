//! Schema migrations: plain SQL files applied in order at start, each once. Replicas that
//! start together take turns (a transaction-scoped advisory lock), so each migration runs
//! once however many start; a migration and the record of it commit together, so a crash
//! leaves either both or neither. A database that has a migration this version does not
//! know (a newer paytree ran) is refused rather than used.

use super::{PgError, Postgres};

/// Every migration, in order: (version, name, SQL). Versions only grow; a file is never
/// changed once released.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "event_log",
        include_str!("migrations/0001_event_log.sql"),
    ),
    (
        2,
        "leases_and_cursors",
        include_str!("migrations/0002_leases_and_cursors.sql"),
    ),
    (
        3,
        "id_sequences",
        include_str!("migrations/0003_id_sequences.sql"),
    ),
    (
        4,
        "store_tables",
        include_str!("migrations/0004_store_tables.sql"),
    ),
    (
        5,
        "reader_streams",
        include_str!("migrations/0005_reader_streams.sql"),
    ),
    (
        6,
        "idempotency_claims",
        include_str!("migrations/0006_idempotency_claims.sql"),
    ),
];

/// The advisory lock the migrating replica holds: any constant of ours ("paytree" in ASCII).
const LOCK: i64 = 0x0070_6179_7472_6565;

impl Postgres {
    /// Applies the migrations the database lacks, in one transaction; the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i32>, PgError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
            .await?;
        txn.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer     PRIMARY KEY,
                 name       text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let applied: Vec<i32> = txn
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let known = |v: &i32| MIGRATIONS.iter().any(|(version, ..)| version == v);
        if let Some(newer) = applied.iter().find(|v| !known(v)) {
            return Err(PgError::NewerSchema(*newer));
        }
        let mut done = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            txn.batch_execute(sql).await?;
            txn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await?;
            tracing::info!(version, name, "postgres: migration applied");
            done.push(*version);
        }
        txn.commit().await?;
        Ok(done)
    }
}
