//! The embedded store: one redb file, one process. Reads run concurrently with the one
//! writer; an I/O error takes the database out of service until it has been reopened
//! ([`health`](super::health)).

use super::command::{Command, Outcome, Rejected};
use super::{StoreError, backup, health, tables, write};
use redb::{Database, ReadableDatabase};
use std::path::Path;
use std::sync::Arc;

/// A handle on the database, cheap to clone. Reads run concurrently with the one writer.
#[derive(Clone)]
pub struct Redb {
    db: Arc<health::Holder>,
}

impl Redb {
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
    /// unwritable until it has reopened the database by itself (see [`Redb::is_writable`]).
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

    pub(super) fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.db.with(|db| Ok(db.begin_read()?))
    }
}

impl std::fmt::Debug for Redb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redb")
    }
}
