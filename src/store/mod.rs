//! The embedded store (redb): typed tables, a versioned codec, read queries and the batch
//! commit that the store-writer actor calls. The store is the source of truth; actors cache.

pub mod backup;
mod codec;
mod command;
mod health;
mod migrate;
pub mod offline;
pub mod postgres;
mod read;
mod tables;
mod write;

pub use command::*;
pub use read::Page;
pub use tables::{
    BREAKER_OPEN_UNTIL, NOTIFIER, PROJECTOR, SAGA, SECRET_CHECK, SHIPPING, SHIPPING_PAUSED,
};
#[cfg(test)]
pub(crate) use write::testing;

use redb::{Database, ReadableDatabase};
use std::path::Path;
use std::sync::Arc;

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

/// A handle on the database, cheap to clone. Reads run concurrently with the one writer.
#[derive(Clone)]
pub struct Store {
    db: Arc<health::Holder>,
}

impl Store {
    /// Opens (or creates) the database at `path` and makes sure every table exists.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        tables::refuse_old_layout(&db)?;
        tables::create_all(&db)?;
        Ok(Self {
            db: Arc::new(health::Holder::new(path, db)),
        })
    }

    /// Commits `commands` in one durable write transaction (group commit): either all of
    /// them are stored or, on a storage error, none. A command that is rejected (a stale
    /// version) writes nothing and does not affect the others. An I/O error makes the store
    /// unwritable until it has reopened the database by itself (see [`Store::is_writable`]).
    pub fn commit(
        &self,
        commands: &[Command],
    ) -> Result<Vec<Result<Outcome, Rejected>>, StoreError> {
        let db = self.db.get()?;
        let result = write::commit_batch(&db, commands);
        if let Err(e) = &result {
            self.db.failed(&db, e);
        }
        result
    }

    /// False from a storage I/O error (a full disk) until the database has been reopened;
    /// meanwhile every read and write fails with [`StoreError::Unavailable`].
    pub fn is_writable(&self) -> bool {
        self.db.is_writable()
    }

    /// Empties the mypage views and resets the projector's checkpoint, in one transaction, so
    /// the projector folds the whole event log again from its first event.
    pub fn reset_views(&self) -> Result<(), StoreError> {
        let db = self.db.get()?;
        let txn = db.begin_write()?;
        {
            txn.delete_table(tables::MYPAGE)?;
            txn.open_table(tables::MYPAGE)?;
            txn.open_table(tables::CHECKPOINTS)?
                .remove(tables::PROJECTOR)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Copies a consistent snapshot of the store into a new database at `to`, while the
    /// store goes on serving (see [`backup`]).
    pub fn backup_to(&self, to: &Path) -> Result<backup::Copied, backup::BackupError> {
        // The snapshot holds the database open till the copy ends (a reopening waits).
        let db = self.db.get()?;
        backup::copy(&db, to)
    }

    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.db.with(|db| Ok(db.begin_read()?))
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}
