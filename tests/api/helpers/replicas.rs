//! The API tests against replicas: with `PAYTREE_TEST_REPLICAS=N` (N > 1),
//! `PAYTREE_TEST_POSTGRES_URL` (a superuser's URL) and `PAYTREE_TEST_NATS_URL` set, every
//! `spawn_app*` starts N replicas of paytree on a fresh database and a stream of their own,
//! and a test's requests go to each replica in turn. `.ci/replicas` runs the acceptance
//! tests so; without these variables nothing changes.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the replicas of one test keep their records and their log.
pub struct Shared {
    pub replicas: usize,
    /// `--store`: a database of the test's own.
    pub store: String,
    /// `--events`: the NATS server, with a stream of the test's own.
    pub events: String,
}

/// How many replicas each test runs (1: one process on the embedded store).
pub fn count() -> usize {
    std::env::var("PAYTREE_TEST_REPLICAS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// A fresh database and stream for N replicas, when the environment asks for replicas.
pub async fn shared() -> Option<Shared> {
    let replicas = count();
    if replicas < 2 {
        return None;
    }
    let shared = fresh(replicas).await;
    Some(shared.expect(
        "PAYTREE_TEST_REPLICAS needs PAYTREE_TEST_POSTGRES_URL (.ci/with-postgres) and \
         PAYTREE_TEST_NATS_URL (.ci/with-nats)",
    ))
}

/// A fresh database and stream for `replicas` replicas, or `None` unless both
/// `PAYTREE_TEST_POSTGRES_URL` and `PAYTREE_TEST_NATS_URL` are set.
pub async fn fresh(replicas: usize) -> Option<Shared> {
    let admin = std::env::var("PAYTREE_TEST_POSTGRES_URL").ok()?;
    let nats = std::env::var("PAYTREE_TEST_NATS_URL").ok()?;
    let name = format!(
        "paytree_api_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connecting to PAYTREE_TEST_POSTGRES_URL");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').expect("a URL ending in /database");
    Some(Shared {
        replicas,
        store: format!("{base}/{name}"),
        events: format!("{}/{name}", nats.trim_end_matches('/')),
    })
}
