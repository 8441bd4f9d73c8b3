//! A store file that no paytree has open: whether one has (redb locks the file while a
//! `Database` is open, across processes), whether a file is a paytree store of this
//! version's layout, and compacting it.

use super::StoreError;
use super::tables::{self, EVENTS, LAYOUT_VERSION, META, PAYMETHODS, SECRET_CHECK};
use redb::{
    Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    ReadableTableMetadata,
};
use std::path::{Path, PathBuf};

/// Why an offline step refused or failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(
        "{0} is open in another process (a running paytree serve?): stop it first, this needs \
         the store to itself"
    )]
    InUse(PathBuf),
    #[error("{path} is not a paytree store that redb can open: {reason}")]
    NotAStore { path: PathBuf, reason: String },
    #[error(
        "{path} is a store of layout {found}, this paytree reads layout {LAYOUT_VERSION}: \
         use the paytree version that made it"
    )]
    OtherLayout { path: PathBuf, found: String },
    #[error("{path} is damaged (its checksums do not match): {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("{0}: {1}")]
    Redb(PathBuf, StoreError),
}

/// What a paytree store file holds, in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub paymethods: u64,
    pub events: u64,
    /// The last event position (0 for an empty log).
    pub position: u64,
    /// What tells the installation secret it was made with (none in a store from before
    /// paytree recorded it).
    pub secret_check: Option<Vec<u8>>,
}

/// Whether a process has the store at `path` open (false if there is no file).
pub fn in_use(path: &Path) -> bool {
    matches!(
        ReadOnlyDatabase::open(path),
        Err(DatabaseError::DatabaseAlreadyOpen)
    )
}

/// Checks, reading only, that `path` is a paytree store of this version's layout, closed
/// cleanly (a backup always is), and says what it holds.
pub fn inspect(path: &Path) -> Result<Summary, OfflineError> {
    let db = match ReadOnlyDatabase::open(path) {
        Ok(db) => db,
        Err(DatabaseError::DatabaseAlreadyOpen) => {
            return Err(OfflineError::InUse(path.to_owned()));
        }
        Err(DatabaseError::RepairAborted) => {
            return Err(not_a_store(
                path,
                "it was not closed cleanly (a live store copied by hand?); take a backup with \
                 `paytree backup` instead",
            ));
        }
        Err(e) => return Err(not_a_store(path, &e.to_string())),
    };
    let store = |e: StoreError| OfflineError::Redb(path.to_owned(), e);
    let txn = db.begin_read().map_err(|e| store(e.into()))?;
    let layout = tables::layout_of(&txn).map_err(store)?;
    if layout != Some(LAYOUT_VERSION) {
        let found = layout.map_or("none (no paytree layout entry)".into(), |l| l.to_string());
        return Err(OfflineError::OtherLayout {
            path: path.to_owned(),
            found,
        });
    }
    let read = || -> Result<Summary, StoreError> {
        let events = txn.open_table(EVENTS)?;
        Ok(Summary {
            paymethods: txn.open_table(PAYMETHODS)?.len()?,
            events: events.len()?,
            position: events.last()?.map_or(0, |(k, _)| k.value()),
            secret_check: txn
                .open_table(META)?
                .get(SECRET_CHECK)?
                .map(|v| v.value().to_vec()),
        })
    };
    read().map_err(store)
}

/// Opens the store at `path` for writing, refusing one that another process has open.
pub fn open(path: &Path) -> Result<Database, OfflineError> {
    match Database::open(path) {
        Ok(db) => Ok(db),
        Err(DatabaseError::DatabaseAlreadyOpen) => Err(OfflineError::InUse(path.to_owned())),
        Err(e) => Err(not_a_store(path, &e.to_string())),
    }
}

/// Holds the store at `path` (created empty if there is none) so that no paytree can open it
/// while the returned database lives; refuses one that a process has open.
pub fn hold(path: &Path) -> Result<Database, OfflineError> {
    match Database::create(path) {
        Ok(db) => Ok(db),
        Err(DatabaseError::DatabaseAlreadyOpen) => Err(OfflineError::InUse(path.to_owned())),
        Err(e) => Err(not_a_store(path, &e.to_string())),
    }
}

/// Verifies every checksum of the store at `path` (reading the whole file).
pub fn verify(path: &Path) -> Result<(), OfflineError> {
    let mut db = open(path)?;
    let damaged = |reason: String| OfflineError::Damaged {
        path: path.to_owned(),
        reason,
    };
    match db.check_integrity() {
        Ok(true) => Ok(()),
        Ok(false) => Err(damaged("redb had to repair it".into())),
        Err(e) => Err(damaged(e.to_string())),
    }
}

/// The file sizes before and after compaction, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub before: u64,
    pub after: u64,
}

/// Compacts the store at `path` in place: pages that deleted and rewritten rows freed are
/// given back and the file is shortened. Refused while another process has it open.
pub fn compact(path: &Path) -> Result<Compacted, OfflineError> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = size(path);
    let mut db = open(path)?;
    db.compact()
        .map_err(|e| OfflineError::Redb(path.to_owned(), redb::Error::from(e).into()))?;
    drop(db);
    Ok(Compacted {
        before,
        after: size(path),
    })
}

fn not_a_store(path: &Path, reason: &str) -> OfflineError {
    OfflineError::NotAStore {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Redb;

    #[test]
    fn a_store_in_use_is_refused_and_a_closed_one_inspected_and_compacted() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("paytree.redb");
        let store = Redb::open(&path).unwrap();
        assert!(in_use(&path));
        assert!(matches!(compact(&path), Err(OfflineError::InUse(_))));
        drop(store);
        assert!(!in_use(&path));
        assert_eq!(
            inspect(&path).unwrap(),
            Summary {
                paymethods: 0,
                events: 0,
                position: 0,
                secret_check: None
            }
        );
        verify(&path).unwrap();
        let sizes = compact(&path).unwrap();
        assert!(sizes.after <= sizes.before, "{sizes:?}");
        Redb::open(&path).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_with_the_reason() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(
            &path,
            "not a database, but long enough to look like one ".repeat(200),
        )
        .unwrap();
        let e = inspect(&path).unwrap_err();
        assert!(matches!(e, OfflineError::NotAStore { .. }), "{e}");
        let empty = dir.path().join("empty.redb");
        drop(Database::create(&empty).unwrap());
        let e = inspect(&empty).unwrap_err();
        assert!(matches!(e, OfflineError::OtherLayout { .. }), "{e}");
    }
}
