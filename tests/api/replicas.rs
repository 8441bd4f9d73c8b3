//! Replicas on one PostgreSQL and one NATS JetStream, hammered: two replicas change the same
//! twenty payment methods at once, as fast as they can. One writer per aggregate is kept by
//! the store (each write states the version it expects), not by placement: every change one
//! replica answered 200 must be in the log at its version, every method's versions go up by
//! one with no gap and no version twice, and every event has exactly one message. Runs with
//! `PAYTREE_TEST_POSTGRES_URL` and `PAYTREE_TEST_NATS_URL` (`.ci/replicas`); SKIPPED without.

use crate::helpers::replicas::{self, Shared};
use crate::helpers::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const METHODS: u64 = 20;
const CLIENTS_PER_REPLICA: usize = 4;
/// New numbers, each approved by the embedded payment system.
const NUMBERS: [&str; 4] = [
    "4242424242424242",
    "5555555555554444",
    "5105105105105100",
    "4000056655665556",
];

#[tokio::test]
async fn two_replicas_changing_the_same_methods_keep_every_version_once_and_in_order() {
    let Some(shared) = two_replicas().await else {
        eprintln!("SKIPPED: needs PAYTREE_TEST_POSTGRES_URL and PAYTREE_TEST_NATS_URL");
        return;
    };
    let app = spawn_replicas(&[], &shared).await;
    let methods = std::env::var("PAYTREE_HAMMER_METHODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(METHODS);
    let mut ids = Vec::new();
    for _ in 0..methods {
        ids.push(app.register_ok("hammer", VISA).await.id());
    }
    let seconds = std::env::var("PAYTREE_HAMMER_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let until = Instant::now() + Duration::from_secs(seconds);
    let clients = (0..2 * CLIENTS_PER_REPLICA).map(|c| {
        let (app, ids) = (app.replica(c % 2), ids.clone());
        tokio::spawn(async move {
            let mut rng = workload::Rng::from_clock("hammer");
            let (mut acked, mut refused) = (Vec::new(), BTreeMap::<u16, usize>::new());
            while Instant::now() < until {
                let id = ids[rng.below(ids.len() as u64) as usize];
                let number = NUMBERS[rng.below(NUMBERS.len() as u64) as usize];
                let r = app.change(id, &json!({"number": number}), None).await;
                match r.status().as_u16() {
                    200 => {
                        let position = position(&r);
                        let version = r.json::<serde_json::Value>().await.unwrap()["version"]
                            .as_u64()
                            .unwrap();
                        acked.push((id, version, position));
                    }
                    status => *refused.entry(status).or_default() += 1,
                }
            }
            (acked, refused)
        })
    });
    let (mut acked, mut refused) = (Vec::new(), BTreeMap::<u16, usize>::new());
    for client in clients {
        let (mine, theirs) = client.await.unwrap();
        acked.extend(mine);
        for (status, n) in theirs {
            *refused.entry(status).or_default() += n;
        }
    }
    eprintln!(
        "{} changes answered 200 in {seconds} s, refused: {refused:?}",
        acked.len()
    );
    assert!(
        refused.keys().all(|s| *s == 409),
        "only conflicts are refused: {refused:?}"
    );
    assert!(acked.len() > 100, "the replicas did change the methods");

    let db = connect(&shared.store).await;
    let rows = db
        .query(
            "SELECT aggregate, version, position FROM events WHERE kind = 'paymethod'
             ORDER BY aggregate, version",
            &[],
        )
        .await
        .unwrap();
    let mut logged: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut at = BTreeMap::new();
    for row in &rows {
        let (aggregate, version, position): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        logged
            .entry(aggregate as u64)
            .or_default()
            .push(version as u64);
        at.insert(position as u64, (aggregate as u64, version as u64));
    }
    for id in &ids {
        let versions = &logged[id];
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(
            versions, &expected,
            "method {id}: each version once, up by one"
        );
        assert_eq!(
            app.version(*id).await,
            *versions.last().unwrap(),
            "method {id}: the stored version is its last event's"
        );
    }
    // A change to the number it has is answered 200 at the same version, with no event.
    let changes: BTreeSet<_> = acked.iter().map(|(id, v, p)| (*id, *v, *p)).collect();
    for (id, version, position) in &changes {
        if *version > 1 {
            assert_eq!(
                at.get(position),
                Some(&(*id, *version)),
                "an acknowledged change is in the log at its position and version"
            );
        }
    }
    let events = rows.len();
    eprintln!(
        "{events} events for {methods} methods, {} distinct acknowledged versions",
        changes.len()
    );

    // Every event gets exactly one message (its id is the event's position).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = db
            .query_one(
                "SELECT count(*) FILTER (WHERE m.id IS NULL), count(m.id)
                 FROM events e LEFT JOIN messages m ON m.id = e.position
                 WHERE e.kind = 'paymethod'",
                &[],
            )
            .await
            .unwrap();
        let (missing, present): (i64, i64) = (row.get(0), row.get(1));
        if missing == 0 {
            assert_eq!(present as usize, events, "one message per event");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} events still without a message"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_change_that_another_replica_got_ahead_of_is_decided_again_on_the_new_version() {
    let Some(shared) = two_replicas().await else {
        eprintln!("SKIPPED: needs PAYTREE_TEST_POSTGRES_URL and PAYTREE_TEST_NATS_URL");
        return;
    };
    let provider = spawn_provider().await;
    let app = spawn_replicas(&["--provider", &provider.address], &shared).await;
    let id = app.register_ok("ahead", VISA).await.id();
    // Each verification takes 400 ms: the second replica reads version 1 while the first is
    // still verifying, and writes after the first stored version 2.
    provider.set_faults(json!({"latencyMs": 400})).await;
    let (first, second) = (app.replica(0), app.replica(1));
    let slow =
        tokio::spawn(async move { first.change(id, &json!({"number": NUMBERS[1]}), None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = second
        .change(id, &json!({"number": NUMBERS[2]}), None)
        .await;
    let early = slow.await.unwrap();
    let statuses = (early.status().as_u16(), late.status().as_u16());
    assert_eq!(statuses, (200, 200), "neither is refused");
    let versions: BTreeSet<u64> = [early, late]
        .into_iter()
        .map(|r| {
            r.headers()["etag"]
                .to_str()
                .unwrap()
                .trim_matches('"')
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, BTreeSet::from([2, 3]), "one after the other");
    let method = app.paymethod(id).await;
    assert_eq!(method["version"], 3);
    assert_eq!(method["last4"], "5100", "the later write is the last");
    assert!(metric(&app, "paytree_conflicts_retried_total{kind=\"paymethod\"}").await >= 1.0);

    // Each replica has a breaker of its own, and says whose it shows.
    let mut names = BTreeSet::new();
    for i in 0..2 {
        let breaker = app.replica(i).breaker().await;
        names.insert(
            breaker["replica"]
                .as_str()
                .expect("a replica's name")
                .to_owned(),
        );
    }
    assert_eq!(names.len(), 2, "{names:?}");
}

/// Two replicas on a fresh database, whatever `PAYTREE_TEST_REPLICAS` says.
async fn two_replicas() -> Option<Shared> {
    replicas::fresh(2).await
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}
