//! PostgreSQL as the store of record, for N replicas (issue 16). Built in steps; so far: the
//! connection pool, the schema's migrations, the event log read in commit order, id
//! sequences, leases and cursors, the relay that publishes the log to NATS JetStream, and
//! every write and read of the embedded store with its semantics ([`Postgres::commit`],
//! `read.rs`). The service does not serve from it yet (`paytree serve` has no
//! `--store postgres://` until it does).

mod claims;
pub mod group;
mod ids;
mod lease;
pub use lease::advance_checkpoint_in;
mod log;
mod migrate;
mod read;
mod record;
pub mod relay;
mod write;

pub use log::{Applied, Cursor, LoggedEvent, NewEvent, append};
pub use migrate::MIGRATIONS;
pub use record::decode_payload;

use deadpool_postgres::{Pool, Runtime};
use tokio_postgres::NoTls;

/// Errors of the PostgreSQL store. Their text may hold the server's address: log them.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("postgres: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("postgres settings: {0}")]
    Config(#[from] deadpool_postgres::CreatePoolError),
    #[error("postgres answered what paytree cannot read: {0}")]
    Decode(String),
    #[error("a record cannot be written to postgres: {0}")]
    Encode(String),
    /// Other replicas kept changing what a write depends on; the batch may be tried again.
    #[error("postgres: {0} kept changing under this write")]
    Contended(&'static str),
    #[error(
        "the database has migration {0}, which this version does not know: it was made by a newer paytree"
    )]
    NewerSchema(i32),
}

/// What can fail in moving the log through JetStream (the relay, a group's reader): the
/// store or the bus.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] PgError),
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
}

/// The server's own message and SQLSTATE where there is one (tokio-postgres shows only "db
/// error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl PgError {
    /// A unique constraint refused the write: another writer stored the same key first (an
    /// aggregate's version, an idempotency key).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Db(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }

    /// The server gave up the transaction to break a deadlock or keep transactions
    /// serializable, or another replica's write got in the way: the same transaction again
    /// may well commit.
    /// The server out of reach, restarting or out of resources (connections, disk): it
    /// passes, rather than a fault of the data or the code.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Db(e) => match e.code() {
                // Connection exceptions, insufficient resources, an operator's intervention.
                Some(code) => ["08", "53", "57"].contains(&&code.code()[..2]),
                // No answer: the connection broke or closed.
                None => true,
            },
            _ => false,
        }
    }

    pub fn is_retryable(&self) -> bool {
        use tokio_postgres::error::SqlState;
        match self {
            Self::Db(e) => {
                e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
                    || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            }
            Self::Contended(_) => true,
            _ => false,
        }
    }
}

/// A pool of connections to one database, its schema migrated to this version's.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
}

impl Postgres {
    /// Connects to `url` (`postgres://user@host:port/db`), with at most `max` connections,
    /// and applies the migrations this version has and the database lacks.
    pub async fn connect(url: &str, max: usize) -> Result<Self, PgError> {
        let mut config = deadpool_postgres::Config::new();
        config.url = Some(url.to_owned());
        config.pool = Some(deadpool_postgres::PoolConfig::new(max.max(1)));
        let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// A connection from the pool.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Postgres")
    }
}
