//! The PostgreSQL store against a real server (in `differential`, against the embedded
//! store too; in `races`, as replicas writing at once). They need one:
//! `PAYTREE_TEST_POSTGRES_URL` (a superuser's URL; each test makes a database of its own),
//! which `.ci/with-postgres` sets after starting a private cluster. Without it each test says SKIPPED and passes, so
//! that `cargo test` needs no database. The relay test also needs `PAYTREE_TEST_NATS_URL`
//! (`.ci/with-nats`).

mod claims;
mod differential;
mod group;
mod ids;
mod log;
mod migrations;
mod races;
mod relay;
mod round_trips;

use paytree::store::postgres::Postgres;
use tokio::sync::{Mutex, MutexGuard};

/// One test at a time: the log's reader waits for the oldest transaction running in the
/// whole cluster (`pg_snapshot_xmin` is cluster-wide, whatever the database), so a test
/// holding a transaction open would hold the others' readers back.
pub async fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::const_new(());
    SERIAL.lock().await
}

/// A fresh database on the test server and its URL, or `None` (SKIPPED) without a server.
pub async fn database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("PAYTREE_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED {test}: PAYTREE_TEST_POSTGRES_URL is not set (.ci/with-postgres sets it)"
        );
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connecting to PAYTREE_TEST_POSTGRES_URL");
    tokio::spawn(connection);
    let name = format!(
        "paytree_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').expect("a URL ending in /database");
    Some(format!("{base}/{name}"))
}

/// A migrated store on a fresh database, or `None` without a server.
pub async fn store(test: &str) -> Option<(Postgres, String)> {
    let url = database(test).await?;
    let store = Postgres::connect(&url, 8)
        .await
        .expect("connect and migrate");
    Some((store, url))
}

/// The JetStream server's URL, or `None` (SKIPPED) without one.
pub fn nats(test: &str) -> Option<String> {
    let url = std::env::var("PAYTREE_TEST_NATS_URL").ok();
    if url.is_none() {
        eprintln!("SKIPPED {test}: PAYTREE_TEST_NATS_URL is not set (.ci/with-nats sets it)");
    }
    url
}

/// A stream of the test's own on the JetStream server, named after `prefix`.
pub async fn bus(nats: &str, prefix: &str) -> paytree::bus::Bus {
    named_bus(nats, prefix).await.0
}

/// [`bus`], and the stream's name.
pub async fn named_bus(nats: &str, prefix: &str) -> (paytree::bus::Bus, String) {
    let stream = format!(
        "{prefix}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    (
        paytree::bus::Bus::connect(nats, &stream).await.unwrap(),
        stream,
    )
}

/// A plain connection, for what a test does outside the store (holding a transaction).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}
