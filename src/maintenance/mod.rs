//! One node's data. The running server's side ([`DataDir`]: an online backup of its store,
//! the data directory's disk use) and the commands that work beside it or without it:
//! `paytree backup` ([`fetch`]), `paytree restore` ([`restore`]), `paytree compact`
//! ([`compact`]).
//!
//! What a data directory holds: the store (`paytree.redb`), the installation secret
//! (`secret.key`, never inside the store: API keys' hashes and card-number fingerprints are
//! keyed with it) and, after a first start that made one, `admin.key`. A backup is the store
//! alone.

mod datadir;
pub mod disk;
pub mod fetch;
pub mod restore;

pub use datadir::{Backup, BackupFailed, DataDir, remove_unfinished_backups};

use anyhow::Context;
use std::path::{Path, PathBuf};

/// The store's file in a data directory.
pub const STORE_FILE: &str = "paytree.redb";
/// The installation secret's file in a data directory.
pub const SECRET_FILE: &str = "secret.key";

/// The flags of `paytree compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// The data directory whose store to compact; no paytree may be running on it.
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// `paytree compact`: gives the pages that deleted and rewritten rows freed back to the file
/// system, with paytree stopped. Prints the sizes before and after.
pub fn compact(args: CompactArgs) -> anyhow::Result<()> {
    let path = args.data_dir.join(STORE_FILE);
    anyhow::ensure!(path.exists(), "{} does not exist", path.display());
    let started = std::time::Instant::now();
    let sizes = crate::store::offline::compact(&path)?;
    println!(
        "compacted {}: {} before, {} after, in {:.1} s",
        path.display(),
        disk::show_bytes(sizes.before),
        disk::show_bytes(sizes.after),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Makes `path`'s directory entry durable (after a rename into it).
pub(crate) fn sync_dir(path: &Path) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}
