//! The store of record: [`Store`] in front of the embedded redb store ([`Redb`]: typed tables,
//! a versioned codec, read queries and the batch commit) or PostgreSQL ([`postgres`], for N
//! replicas). The store is the source of truth; actors cache.

pub mod backup;
mod codec;
mod command;
mod cursor;
mod embedded;
mod front;
mod health;
mod migrate;
pub mod offline;
pub mod postgres;
mod read;
mod tables;
mod write;

pub(crate) use codec::decode;
pub use command::*;
pub use cursor::{Advance, Checkpoint, Cursor};
pub use embedded::Redb;
pub use front::{BusLog, Store};
pub use read::Page;
pub use tables::{
    BREAKER_OPEN_UNTIL, NOTIFIER, PROJECTOR, SAGA, SECRET_CHECK, SHIPPING, SHIPPING_PAUSED,
};
#[cfg(test)]
pub(crate) use write::testing;

/// Errors of the storage layer. Their text may hold file paths: log them, never send them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Storage(#[from] redb::Error),
    #[error("stored record cannot be decoded: {0}")]
    Codec(#[from] postcard::Error),
    #[error("stored record has unknown format version {0}")]
    Format(u8),
    #[error(
        "the data directory has the table {0}, from an earlier layout of the store that this \
         version does not read; start with a fresh data directory"
    )]
    OldLayout(String),
    #[error(
        "the data directory holds records of layout {0}, which this version does not read; \
         start with a fresh data directory"
    )]
    OldFormat(u8),
    /// Out of service after a storage I/O error, until the database has been reopened.
    #[error("the store is being reopened after a storage I/O error")]
    Unavailable,
    /// A store call on the blocking pool panicked (a bug): nothing of it is known to be stored.
    #[error("a store call failed: {0}")]
    Panicked(String),
    #[error(transparent)]
    Postgres(#[from] postgres::PgError),
    /// What this store does not do (the embedded store's log read with PostgreSQL).
    #[error("{0}")]
    Unsupported(&'static str),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Storage(e.into())
            }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
