//! The database as the store holds it, and what happens after a storage I/O error.
//!
//! After one failed read or write (a full disk, most often), redb refuses every later
//! operation with `PreviousIo` until the database is closed and opened again. So the first
//! I/O error of a commit makes the store unwritable: the database is taken out of service
//! (reads and writes answer [`StoreError::Unavailable`], which the service answers 503), and a
//! thread of its own opens it again with backoff, which succeeds once every transaction of the
//! old one has ended (redb's file lock) and the cause is gone. Opening alone proves nothing
//! (it need not write), so a reopened database must first commit a probe of
//! [`PROBE_BYTES`] and then delete it: the store is writable again only then, and the space
//! the probe leaves free inside the file is room for the commits that follow, so readiness
//! does not flap while the disk is still all but full. Then commits resume by themselves.
//!
//! The commit that failed was never acknowledged: its callers got an error. redb's commit is
//! atomic, so after the reopening the store holds the batch either whole or (almost always:
//! only a failure of the very last sync can leave it whole) not at all.

use super::StoreError;
use arc_swap::ArcSwapOption;
use redb::Database;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::telemetry::names;

/// The first wait before reopening, doubled after each failed attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a reopened database must be able to commit before it is used again.
const PROBE_BYTES: usize = 1 << 20;
const PROBE_KEY: &str = "reopen_probe";

/// The open database, or none while it is being reopened.
pub(super) struct Holder {
    path: PathBuf,
    db: ArcSwapOption<Database>,
    /// False from the first I/O error until the database has been reopened.
    writable: AtomicBool,
}

impl Holder {
    pub fn new(path: &Path, db: Database) -> Self {
        metrics::gauge!(names::STORE_WRITABLE).set(1.0);
        Self {
            path: path.to_path_buf(),
            db: ArcSwapOption::from_pointee(db),
            writable: AtomicBool::new(true),
        }
    }

    /// The database, unless it is out of service after an I/O error.
    pub fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.db.load_full().ok_or(StoreError::Unavailable)
    }

    /// Runs `f` on the database (without taking a reference count, for reads).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &*self.db.load() {
            Some(db) => f(db),
            None => Err(StoreError::Unavailable),
        }
    }

    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::SeqCst)
    }

    /// Called with the error of a failed commit on `db`: an I/O error takes the database out
    /// of service and starts reopening it (once, however many commits report the failure,
    /// and never for a database that has already been replaced by a reopened one).
    pub fn failed(self: &Arc<Self>, db: &Arc<Database>, error: &StoreError) {
        let current = self.db.load();
        let replaced = current.as_ref().is_none_or(|now| !Arc::ptr_eq(now, db));
        drop(current);
        if !error.is_outage() || replaced || !self.writable.swap(false, Ordering::SeqCst) {
            return;
        }
        metrics::gauge!(names::STORE_WRITABLE).set(0.0);
        metrics::counter!(names::STORE_FAILURES).increment(1);
        tracing::error!(%error, "storage I/O error: the store is unwritable and not ready; reopening the database until it works");
        // Our reference goes now; redb closes the file once the last one goes (a running
        // write transaction keeps it till it ends; read transactions then fail as closed).
        self.db.store(None);
        let holder = self.clone();
        let spawned = std::thread::Builder::new()
            .name("paytree-store-reopen".into())
            .spawn(move || holder.reopen());
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the thread that reopens the store");
        }
    }

    /// Opens the database again, retrying with backoff until it works.
    fn reopen(&self) {
        let mut wait = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            std::thread::sleep(wait);
            attempts += 1;
            match Database::create(&self.path) {
                Ok(db) if let Err(e) = probe(&db) => {
                    metrics::counter!(names::STORE_REOPENS, "outcome" => "failed").increment(1);
                    tracing::warn!(error = %e, attempts, retry_ms = wait.as_millis() as u64, "the reopened store cannot commit yet (a full disk?); trying again");
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
                Ok(db) => {
                    metrics::counter!(names::STORE_REOPENS, "outcome" => "reopened").increment(1);
                    self.writable.store(true, Ordering::SeqCst);
                    self.db.store(Some(Arc::new(db)));
                    metrics::gauge!(names::STORE_WRITABLE).set(1.0);
                    tracing::info!(
                        attempts,
                        "store reopened: commits resume and paytree is ready again"
                    );
                    return;
                }
                Err(e) => {
                    metrics::counter!(names::STORE_REOPENS, "outcome" => "failed").increment(1);
                    // Every attempt while it is still held is expected; the others are news.
                    if !matches!(e, redb::DatabaseError::DatabaseAlreadyOpen)
                        || attempts.is_multiple_of(20)
                    {
                        tracing::warn!(error = %e, attempts, retry_ms = wait.as_millis() as u64, "reopening the store failed; trying again");
                    }
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Commits [`PROBE_BYTES`] and deletes them again, each durably.
fn probe(db: &Database) -> Result<(), StoreError> {
    for value in [Some(vec![0u8; PROBE_BYTES]), None] {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(super::tables::META)?;
            match &value {
                Some(bytes) => meta.insert(PROBE_KEY, bytes.as_slice())?,
                None => meta.remove(PROBE_KEY)?,
            };
        }
        txn.commit()?;
    }
    Ok(())
}

impl StoreError {
    /// Whether this is the store being out of service (an I/O error, or the database being
    /// reopened after one), which passes, rather than a fault of the data or the code.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Unavailable => true,
            Self::Postgres(e) => e.is_outage(),
            Self::Storage(e) => matches!(
                e,
                redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed
            ),
            _ => false,
        }
    }
}
