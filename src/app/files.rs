//! The data dir's files besides the store: the dir itself (owner-only), the installation
//! secret, the admin key made at the first start, and files written whole (the pid file).

use crate::auth::{Bootstrap, KeyHasher};
use crate::config::Settings;
use crate::store::{Command, PutMeta, SECRET_CHECK, Store};
use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::io::Write;
use std::path::Path;

/// The data dir, created owner-only (0700) if missing; an existing one is left as it is.
pub(crate) fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating data dir {}", dir.display()))
}

/// Opens options that create a new file readable and writable by its owner only (0600).
pub(crate) fn new_private_file() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `path` empty and owner-only if it does not exist yet; warns if an existing one is
/// open to others (it is left as it is: its owner may have meant it).
pub(super) fn create_private_file(path: &Path) -> anyhow::Result<()> {
    match new_private_file().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the store is open to other users although it holds the payment system's tokens: chmod 600 it");
                }
            }
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// This installation's secret for number fingerprints: 32 random bytes in `secret.key`,
/// kept beside the store and never inside it.
pub(super) fn load_or_create_secret(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join("secret.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return parse_secret(&text);
    }
    let key: [u8; 32] = rand::rng().random();
    let mut file = new_private_file()
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex::encode(key).as_bytes())?;
    file.sync_all()?;
    Ok(key)
}

/// An installation secret as `secret.key` holds it: 64 hex digits (32 bytes).
pub(crate) fn parse_secret(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("secret.key is not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("secret.key must hold 32 bytes"))
}

/// What tells whether a secret is the one a store was made with, and nothing else about it:
/// HMAC-SHA256 under the secret of a label of its own.
pub(crate) fn secret_check(secret: &[u8; 32]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(b"paytree installation secret check\0");
    mac.finalize().into_bytes().to_vec()
}

/// Refuses to start with a `secret.key` other than the one the store was made with (every
/// API key would be refused and every number fingerprinted anew, silently); a store that
/// has no check value yet gets this secret's.
pub(super) async fn check_secret(store: &Store, secret: &[u8; 32]) -> anyhow::Result<()> {
    let expected = secret_check(secret);
    match store
        .meta(SECRET_CHECK)
        .await
        .context("reading the store")?
    {
        Some(found) if found == expected => Ok(()),
        Some(_) => anyhow::bail!(
            "secret.key is not the secret this store was made with: its API keys and card \
             fingerprints were made with another one. Put back the installation's secret.key \
             (restoring a backup: paytree restore --secret FILE)"
        ),
        None => {
            let record = Command::PutMeta(PutMeta {
                name: SECRET_CHECK,
                value: expected,
            });
            store
                .commit(vec![record])
                .await
                .context("recording the secret's check value")?;
            Ok(())
        }
    }
}

/// Makes sure an admin key exists (see [`crate::auth::bootstrap`]); a new one is written to
/// `<data-dir>/admin.key` (mode 0600), and the log names the file, never the key.
pub(super) async fn bootstrap_admin_key(
    store: &Store,
    hasher: &KeyHasher,
    settings: &Settings,
) -> anyhow::Result<()> {
    let given = settings.access.admin_key.as_ref();
    match crate::auth::bootstrap(store, hasher, given)
        .await
        .context("making the admin key")?
    {
        Bootstrap::Existing => {}
        Bootstrap::FromEnvironment => {
            tracing::info!("PAYTREE_ADMIN_KEY is stored as an admin key");
        }
        Bootstrap::Made(key) => {
            let path = settings.data_dir.join("admin.key");
            write_private(&path, key.expose().as_bytes())?;
            tracing::info!(file = %path.display(), "made an admin key; it is in this file (mode 0600)");
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by its owner only, replacing any file there at once
/// (written beside it, synced, then renamed).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file = new_private_file()
        .open(&temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
