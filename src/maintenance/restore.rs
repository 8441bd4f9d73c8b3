//! `paytree restore`: puts a backup in place as a data directory's store, with paytree
//! stopped. The file is checked (a paytree store of this layout) before anything changes,
//! copied in beside the store's name, verified whole (every checksum), synced, and renamed
//! over it: the directory holds either its old store or the backup, never half of one.

use super::disk::show_bytes;
use super::{SECRET_FILE, STORE_FILE, sync_dir};
use crate::store::offline;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The flags of `paytree restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file (`paytree backup --to FILE`).
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to restore into; created if missing; no paytree may be running on it.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The installation's `secret.key` to put in the data directory, which has none yet (a
    /// backup does not hold it).
    #[arg(long)]
    pub secret: Option<PathBuf>,
    /// Replace the store the data directory holds.
    #[arg(long)]
    pub force: bool,
}

/// What to say when the data directory has no secret and none was given.
const NO_SECRET: &str = "\
a backup holds the store only, not the installation secret (secret.key), and API keys' hashes \
and card-number fingerprints are keyed with it: with another secret no API key works and a \
number registered twice is no longer recognised. Give the secret.key of the installation the \
backup came from with --secret FILE (the secret never changes: keep one copy of it, apart from \
the backups)";

/// Runs `paytree restore`.
pub fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let summary = offline::inspect(&args.from)?;
    let store = args.data_dir.join(STORE_FILE);
    if offline::in_use(&store) {
        bail!(offline::OfflineError::InUse(store));
    }
    if store.exists() && !args.force {
        bail!(
            "{} already holds a store; restoring would replace it: give --force to replace it",
            args.data_dir.display()
        );
    }
    let (secret, install) = secret_to_install(&args.data_dir, args.secret.as_deref())?;
    match &summary.secret_check {
        Some(check) => anyhow::ensure!(
            *check == crate::app::files::secret_check(&secret),
            "the secret ({}) is not the one this backup's store was made with: with it no API \
             key would work and no number registered twice be recognised. Give the secret.key \
             of the installation the backup came from",
            if install {
                "--secret"
            } else {
                "the data directory's secret.key"
            }
        ),
        None => println!(
            "the backup holds no check value of its secret (it predates them): make sure the \
             secret is the installation's"
        ),
    }

    crate::app::files::create_data_dir(&args.data_dir)?;
    // Held until the rename: a paytree started meanwhile (by socket activation, by hand)
    // cannot open the store being replaced and go on committing to a file that is then gone.
    let existed = store.exists();
    let held = offline::hold(&store)?;
    let incoming = args.data_dir.join(format!("{STORE_FILE}.restoring"));
    let copied = copy_in(&args.from, &incoming);
    let checked = copied.and_then(|()| Ok(offline::verify(&incoming)?));
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&incoming);
        drop(held);
        if !existed {
            let _ = std::fs::remove_file(&store);
        }
        return Err(e);
    }
    let secret_line = if install {
        install_secret(&args.data_dir, &secret)?;
        "copied in from --secret"
    } else {
        "the one already there"
    };
    std::fs::rename(&incoming, &store)
        .with_context(|| format!("renaming {} to {}", incoming.display(), store.display()))?;
    // The old file's lock goes with it; a paytree that starts now opens the restored store.
    drop(held);
    sync_dir(&store)?;
    println!(
        "restored {} into {}: {}, {} payment methods, events up to position {}, in {:.1} s",
        args.from.display(),
        store.display(),
        show_bytes(super::disk::file_size(&store)),
        summary.paymethods,
        summary.position,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{SECRET_FILE}: {secret_line} (it must be the secret of the installation the backup \
         came from)"
    );
    println!(
        "start it with: paytree serve --data-dir {} (the API keys are the backup's)",
        args.data_dir.display()
    );
    Ok(())
}

/// The secret the restored store will be used with, and whether it must be copied in (the
/// data directory has none); refuses when neither the directory nor `--secret` has one, or
/// when they differ.
fn secret_to_install(dir: &Path, given: Option<&Path>) -> anyhow::Result<([u8; 32], bool)> {
    let read = |path: &Path| -> anyhow::Result<[u8; 32]> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        crate::app::files::parse_secret(&text).with_context(|| format!("{}", path.display()))
    };
    let present = dir.join(SECRET_FILE);
    match (present.exists(), given) {
        (false, None) => bail!(
            "{} has no {SECRET_FILE} and no --secret was given: {NO_SECRET}",
            dir.display()
        ),
        (false, Some(given)) => Ok((read(given)?, true)),
        (true, None) => Ok((read(&present)?, false)),
        (true, Some(given)) => {
            let secret = read(&present)?;
            anyhow::ensure!(
                secret == read(given)?,
                "{} differs from --secret {}: keep the one of the installation the backup came \
                 from, and remove the other",
                present.display(),
                given.display()
            );
            Ok((secret, false))
        }
    }
}

/// Copies `from` to `to` (a new owner-only file, replacing one an earlier restore left) and
/// syncs it.
fn copy_in(from: &Path, to: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(to);
    let mut source =
        std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut target = crate::app::files::new_private_file()
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    std::io::copy(&mut source, &mut target)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    target
        .sync_all()
        .with_context(|| format!("syncing {}", to.display()))
}

/// Writes `secret` as the directory's `secret.key` (0600), as paytree writes it.
fn install_secret(dir: &Path, secret: &[u8; 32]) -> anyhow::Result<()> {
    let path = dir.join(SECRET_FILE);
    crate::app::files::write_private(&path, hex::encode(secret).as_bytes())?;
    sync_dir(&path)
}
