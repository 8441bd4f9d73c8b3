//! Opening the store at start: the embedded one in the data directory (after a handoff, once
//! the process handing over has closed it), or PostgreSQL with its bus and relay.

use super::files;
use crate::bus::Bus;
use crate::config::Settings;
use crate::handoff::{self, Ready};
use crate::store::postgres::Postgres;
use crate::store::postgres::relay::Relay;
use crate::store::{BusLog, Store, StoreError};
use anyhow::Context;
use std::path::Path;
use std::time::{Duration, Instant};

/// The embedded store in the data directory; after a handoff, once the process handing over
/// has closed it.
pub(super) async fn open_redb(
    settings: &Settings,
    handoff: Option<Ready>,
    secret_check: &str,
) -> anyhow::Result<Store> {
    // It holds the payment system's tokens: owner-only, like the secret.
    let db_path = settings.data_dir.join("paytree.redb");
    files::create_private_file(&db_path)?;
    let store_wait = match handoff {
        Some(ready) => {
            check_handed_secret(secret_check)?;
            ready.send();
            // The old process stops accepting, gives in-flight requests the grace, waits for
            // started commands, and drains its tree, then closes the store.
            settings.limits.shutdown_grace + STORE_RELEASE_WAIT
        }
        None => Duration::ZERO,
    };
    let store = open_store(&db_path, store_wait).await?;
    // Only now, holding the store: no other process can be taking a backup here.
    crate::maintenance::remove_unfinished_backups(&settings.data_dir);
    Ok(store)
}

/// What a process taking over can check before the old one is told to stop: its secret.
pub(super) fn check_handed_secret(secret_check: &str) -> anyhow::Result<()> {
    if let Ok(theirs) = std::env::var(handoff::SECRET_CHECK_VAR) {
        anyhow::ensure!(
            theirs == secret_check,
            "secret.key is not the secret the process handing over serves with: not taking \
             over (it serves on)"
        );
    }
    Ok(())
}

/// PostgreSQL at `url` (its schema migrated) with the event log's bus at `events`, and the
/// relay that publishes the log to it (the replica holding its lease does).
pub(super) async fn open_postgres(url: &str, events: &str) -> anyhow::Result<Store> {
    let pg = Postgres::connect(url, POSTGRES_CONNECTIONS)
        .await
        .context("connecting to PostgreSQL and migrating its schema")?;
    let (server, stream) = crate::bus::events_url(events).context("an --events URL")?;
    let bus = Bus::connect(&server, &stream)
        .await
        .with_context(|| format!("connecting to NATS JetStream at {server}"))?;
    let holder = format!(
        "{}-{}-{:08x}",
        rustix::system::uname().nodename().to_string_lossy(),
        std::process::id(),
        rand::random::<u32>()
    );
    tracing::info!(replica = %holder, "serving from PostgreSQL; the log goes through NATS JetStream");
    let relay = Relay {
        store: pg.clone(),
        bus: bus.clone(),
        holder: holder.clone(),
        lease: RELAY_LEASE,
        batch: RELAY_BATCH,
    };
    tokio::spawn(relay.run(RELAY_EVERY, std::future::pending()));
    Ok(Store::postgres(BusLog {
        store: pg,
        bus,
        holder,
    }))
}

/// Connections each replica keeps to PostgreSQL at most.
const POSTGRES_CONNECTIONS: usize = 16;
/// How often the relay looks for new events while it holds its lease.
const RELAY_EVERY: Duration = Duration::from_millis(20);
/// How long the relay's lease lasts unless renewed: after its replica dies, another takes
/// over once it expires.
const RELAY_LEASE: Duration = Duration::from_secs(5);
/// Events published per relay batch.
const RELAY_BATCH: i64 = 512;

/// How long a process that takes over waits for the one handing over to close the store,
/// beyond the shutdown grace: a started command (up to a minute) and the tree's drain.
const STORE_RELEASE_WAIT: Duration = Duration::from_secs(180);

/// Opens the store at `path`; while another process has it open (redb's
/// `DatabaseAlreadyOpen`), tries again for at most `wait`.
async fn open_store(path: &Path, wait: Duration) -> anyhow::Result<Store> {
    let started = Instant::now();
    let mut waiting = false;
    loop {
        match Store::open(path) {
            Err(StoreError::Storage(redb::Error::DatabaseAlreadyOpen)) if !wait.is_zero() => {
                if started.elapsed() >= wait {
                    anyhow::bail!(
                        "the store {} was still open in another process after {} s: the paytree handing over did not exit",
                        path.display(),
                        wait.as_secs()
                    );
                }
                if !waiting {
                    tracing::info!("waiting for the process handing over to close the store");
                    waiting = true;
                }
                tokio::time::sleep(STORE_RETRY).await;
            }
            opened => {
                return opened.with_context(|| format!("opening store {}", path.display()));
            }
        }
    }
}

/// How often the store is tried again while it is still open elsewhere.
const STORE_RETRY: Duration = Duration::from_millis(20);
