//! The data directory as the running server sees it: online backups of its store, one at a
//! time, and its disk use.
//!
//! A backup is copied into a file in the data directory itself, not the system's temp dir:
//! the copy holds the payment system's tokens, and the data directory is owner-only (0700);
//! `/tmp` is often a RAM file system too small for a store. The file is unlinked as soon as
//! the copy is done and handed out open, so it is gone whatever becomes of the download;
//! only a crash during the copy leaves one, which the next start removes.

use super::disk;
use crate::store::Store;
use crate::store::backup::{BackupError, Copied};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The names of the files backups are copied into, while they are.
const UNFINISHED: &str = "backup-in-progress-";

/// The data directory of a running paytree. Cheap to share (`AppState` holds one).
pub struct DataDir {
    path: PathBuf,
    store: Store,
    /// Held for the whole copy, by the copying thread: one backup at a time.
    copying: Arc<tokio::sync::Mutex<()>>,
}

/// A finished backup: its file, already unlinked, open at its start.
#[derive(Debug)]
pub struct Backup {
    pub file: std::fs::File,
    pub len: u64,
    pub copied: Copied,
}

/// Why no backup was made.
#[derive(Debug, thiserror::Error)]
pub enum BackupFailed {
    /// The data directory's file system has less free space than the store's size.
    #[error("{free} bytes free, a backup may need {needed}")]
    NoRoom { needed: u64, free: u64 },
    #[error(transparent)]
    Copy(#[from] BackupError),
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    /// The store is not the embedded one: PostgreSQL's backups are PostgreSQL's own.
    #[error("backups are taken with PostgreSQL's tools when PostgreSQL is the store")]
    NotEmbedded,
    /// The copying thread panicked or was cancelled at shutdown.
    #[error("the backup's thread ended without an answer")]
    Stopped,
}

impl DataDir {
    pub fn new(path: PathBuf, store: Store) -> Self {
        Self {
            path,
            store,
            copying: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies a consistent snapshot of the store (waiting for a backup under way to end
    /// first) on a blocking thread, while the server goes on serving. The thread owns the
    /// file and the turn: a caller that gives up leaves nothing behind.
    pub async fn backup(&self) -> Result<Backup, BackupFailed> {
        let turn = self.copying.clone().lock_owned().await;
        let needed = disk::file_size(&self.path.join(super::STORE_FILE));
        if let Some(space) = disk::free_space(&self.path)
            && space.available < needed
        {
            return Err(BackupFailed::NoRoom {
                needed,
                free: space.available,
            });
        }
        let to = self
            .path
            .join(format!("{UNFINISHED}{:016x}.redb", rand::random::<u64>()));
        let store = self
            .store
            .embedded()
            .cloned()
            .ok_or(BackupFailed::NotEmbedded)?;
        let copy = move || {
            let _turn = turn;
            let backup = store
                .backup_to(&to)
                .map_err(BackupFailed::from)
                .and_then(|copied| {
                    let file = std::fs::File::open(&to)?;
                    let len = file.metadata()?.len();
                    Ok(Backup { file, len, copied })
                });
            // Unlinked at once, made or not: an open file stays readable, and its space is
            // freed when the last handle closes.
            let _ = std::fs::remove_file(&to);
            backup
        };
        tokio::task::spawn_blocking(copy)
            .await
            .map_err(|_| BackupFailed::Stopped)?
    }
}

/// Removes backup files that a crash left in `dir` half-made. Called at start, before the
/// store opens: no backup can be under way then.
pub fn remove_unfinished_backups(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(UNFINISHED) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed an unfinished backup")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an unfinished backup")
                }
            }
        }
    }
}
