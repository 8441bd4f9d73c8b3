//! `paytree backup`: asks a running paytree for a backup (`POST /admin/backup`) and writes it
//! to `FILE.partial`, which becomes `FILE` only once all of it is on disk and it opens as a
//! paytree store. A failed or interrupted backup leaves no `FILE` and no `FILE.partial`.

use super::disk::show_bytes;
use crate::auth::ApiKey;
use crate::tls::{ClientTls, request_error};
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The flags of `paytree backup`. The admin key is never a flag: it would show in `ps`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the backup; refused if it exists.
    #[arg(long)]
    pub to: PathBuf,
    /// The running paytree's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A file holding an admin key [default: $PAYTREE_ADMIN_KEY, else data/admin.key].
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust besides Mozilla's and the system's roots, for a
    /// paytree serving HTTPS with a private CA.
    #[arg(long, env = "PAYTREE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// Runs `paytree backup`.
pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.to.exists(),
        "{} exists: a backup never replaces a file; remove it or choose another name",
        args.to.display()
    );
    let key = admin_key(args.key_file.as_deref())?;
    let client = ClientTls::new(args.ca_file.as_deref())?
        .http_client()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("making the HTTP client")?;
    let url = format!("{}/admin/backup", args.url.trim_end_matches('/'));
    let started = Instant::now();
    let mut partial = Partial::create(&args.to)?;
    let download = download(&client, &url, &key, &mut partial);
    let len = tokio::select! {
        len = download => len?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted: no backup was written"),
    };
    let summary = partial.finish()?;
    println!(
        "backup written to {}: {}, {} payment methods, events up to position {}, in {:.1} s",
        args.to.display(),
        show_bytes(len),
        summary.paymethods,
        summary.position,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The admin key: from `--key-file`, else `PAYTREE_ADMIN_KEY`, else `data/admin.key`.
fn admin_key(key_file: Option<&Path>) -> anyhow::Result<ApiKey> {
    let (raw, from) = match (key_file, std::env::var("PAYTREE_ADMIN_KEY")) {
        (None, Ok(raw)) => (raw, "PAYTREE_ADMIN_KEY".to_owned()),
        (file, _) => {
            let file = file.unwrap_or(Path::new("data/admin.key"));
            let raw = std::fs::read_to_string(file).with_context(|| {
                format!(
                    "reading the admin key from {} (give --key-file FILE or set PAYTREE_ADMIN_KEY)",
                    file.display()
                )
            })?;
            (raw, file.display().to_string())
        }
    };
    ApiKey::parse(raw.trim()).with_context(|| {
        format!("{from} does not hold a key: ptk_ and at least 32 characters of A-Z a-z 0-9")
    })
}

/// Streams the answer into `partial`, with a line of progress on stderr every second.
async fn download(
    client: &reqwest::Client,
    url: &str,
    key: &ApiKey,
    partial: &mut Partial,
) -> anyhow::Result<u64> {
    let mut response = client
        .post(url)
        .bearer_auth(key.expose())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("calling {url}: {}", request_error(e)))?;
    let status = response.status();
    if !status.is_success() {
        let problem: serde_json::Value = response.json().await.unwrap_or_default();
        bail!(
            "{url} answered {status}: {}",
            problem["detail"].as_str().unwrap_or("no detail")
        );
    }
    let total = response.content_length();
    let of = total.map_or(String::new(), |t| format!(" of {}", show_bytes(t)));
    let mut received = 0u64;
    let mut shown = Instant::now();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("receiving the backup: {}", request_error(e)))?
    {
        partial.write(&chunk)?;
        received += chunk.len() as u64;
        if shown.elapsed() >= Duration::from_secs(1) {
            eprintln!("received {}{of}", show_bytes(received));
            shown = Instant::now();
        }
    }
    eprintln!("received {}{of}", show_bytes(received));
    if total.is_some_and(|t| t != received) {
        bail!("the connection ended before the whole backup arrived; no backup was written");
    }
    Ok(received)
}

/// `FILE.partial` while it is being written (owner-only: a backup holds the payment system's
/// tokens); removed when dropped unless [`Partial::finish`] made it `FILE`.
struct Partial {
    file: Option<std::fs::File>,
    path: PathBuf,
    to: PathBuf,
}

impl Partial {
    fn create(to: &Path) -> anyhow::Result<Self> {
        let mut name = to.as_os_str().to_owned();
        name.push(".partial");
        let path = PathBuf::from(name);
        // One left by a backup that was killed is ours to replace.
        let _ = std::fs::remove_file(&path);
        let file = crate::app::files::new_private_file()
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            file: Some(file),
            path,
            to: to.to_owned(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let file = self.file.as_mut().expect("written before finish");
        file.write_all(bytes)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Syncs the file, checks that it is a paytree store and renames it to its name.
    fn finish(mut self) -> anyhow::Result<crate::store::offline::Summary> {
        let file = self.file.take().expect("finished once");
        file.sync_all()
            .with_context(|| format!("syncing {}", self.path.display()))?;
        drop(file);
        let summary = crate::store::offline::inspect(&self.path)?;
        std::fs::rename(&self.path, &self.to).with_context(|| {
            format!("renaming {} to {}", self.path.display(), self.to.display())
        })?;
        super::sync_dir(&self.to)?;
        self.path.clear();
        Ok(summary)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            self.file.take();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
