//! Replicas writing one aggregate at once. Each race is made certain, not left to timing: a
//! third session holds a lock that both writers need after their checks have passed, and
//! lets it go once both wait for it, so both have decided on the same version and one of
//! them must find, in its writes, that the other got there first.

use crate::differential::build::*;
use crate::*;
use paytree::domain::intent::Verdict;
use paytree::domain::{PaymethodId, Timestamp};
use paytree::store::{
    BREAKER_OPEN_UNTIL, Command, Outcome, RecordAudit, Rejected, ResolveIntent, SHIPPING_PAUSED,
};
use std::time::Duration;

type Outcomes = Vec<Result<Outcome, Rejected>>;

/// Two replicas (pools of their own) on a fresh database, and a plain session for locks.
async fn replicas(test: &str) -> Option<(Postgres, Postgres, String)> {
    let (a, url) = store(test).await?;
    let b = Postgres::connect(&url, 2).await.unwrap();
    Some((a, b, url))
}

/// Opens `base` and registers method `id` for alice under it.
async fn registered(store: &Postgres, id: u64) {
    let alice = customer("alice");
    let base = format!("reg_{id}");
    let opened = store.commit(&[open(&base, "n", &alice).into()]).await;
    opened.unwrap().remove(0).unwrap();
    let register = register(id, &alice, intent(&base, "n"), None);
    store
        .commit(&[register.into()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
}

async fn opened(store: &Postgres, base: &str) {
    let open = open(base, "n", &customer("alice"));
    store
        .commit(&[open.into()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
}

/// Commits `a` on replica `ra` and `b` on `rb` at once, while `blocker` (a session in a
/// transaction that holds a lock both need) waits until both wait for it, then commits.
async fn race(
    url: &str,
    blocker: tokio_postgres::Client,
    (ra, a): (&Postgres, Vec<Command>),
    (rb, b): (&Postgres, Vec<Command>),
) -> (Outcomes, Outcomes) {
    let release = async {
        let monitor = connect(url).await;
        let waiting = "SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        for _ in 0..1000 {
            let row = monitor.query_one(waiting, &[]).await.unwrap();
            if row.get::<_, i64>(0) >= 2 {
                blocker.batch_execute("COMMIT").await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the two writers never both waited for the lock");
    };
    let (a, b, ()) = tokio::join!(ra.commit(&a), rb.commit(&b), release);
    (a.unwrap(), b.unwrap())
}

/// A session that holds `lock` (SQL run in a transaction it keeps open).
async fn blocker(url: &str, lock: &str) -> tokio_postgres::Client {
    let client = connect(url).await;
    client
        .batch_execute(&format!("BEGIN; {lock}"))
        .await
        .unwrap();
    client
}

async fn count(url: &str, sql: &str) -> i64 {
    connect(url).await.query_one(sql, &[]).await.unwrap().get(0)
}

/// The rejections of a batch's outcomes (`None` where accepted).
fn rejections(outcomes: &Outcomes) -> Vec<Option<Rejected>> {
    outcomes.iter().map(|o| o.clone().err()).collect()
}

/// Asserts that `seen` is `expected` in one order or the other (either replica may win).
fn either<T: PartialEq + std::fmt::Debug>(seen: [T; 2], expected: [T; 2]) {
    let [x, y] = &expected;
    assert!(
        seen == expected || (&seen[0] == y && &seen[1] == x),
        "{seen:?} is not {expected:?} in either order"
    );
}

#[tokio::test]
async fn two_replicas_changing_one_method_at_once_one_wins_and_the_other_is_a_version_conflict() {
    let _serial = serial().await;
    let Some((a, b, url)) = replicas("race change").await else {
        return;
    };
    registered(&a, 1).await;
    for base in ["chg_a", "chg_b", "reg_10", "reg_20"] {
        opened(&a, base).await;
    }
    let v1 = a.paymethod(PaymethodId(1)).await.unwrap().unwrap();
    let alice = customer("alice");
    // Before the racing change: a registration (its savepoint still open) and a setting
    // written under it; after it, an audit entry. The loser's other commands stand.
    let batch = |new: u64, meta, base: &str, n| -> Vec<Command> {
        vec![
            register(new, &alice, intent(&format!("reg_{new}"), "n"), None).into(),
            paytree::store::PutMeta {
                name: meta,
                value: vec![1],
            }
            .into(),
            change(&v1, n, 1, intent(base, "n")).into(),
            RecordAudit {
                audit: audit("race", base),
            }
            .into(),
        ]
    };
    let blocker = blocker(&url, "SELECT FROM paymethods WHERE id = 1 FOR UPDATE").await;
    let (ra, rb) = race(
        &url,
        blocker,
        (&a, batch(10, BREAKER_OPEN_UNTIL, "chg_a", 2)),
        (&b, batch(20, SHIPPING_PAUSED, "chg_b", 3)),
    )
    .await;

    let won = vec![None, None, None, None];
    let lost = vec![None, None, Some(Rejected::VersionConflict), None];
    either([rejections(&ra), rejections(&rb)], [won, lost]);
    let (winner, loser) = if ra[2].is_ok() {
        ("chg_a", "chg_b")
    } else {
        ("chg_b", "chg_a")
    };

    let stored = a.paymethod(PaymethodId(1)).await.unwrap().unwrap();
    assert_eq!(stored.method.version, 2, "one version up");
    let versions = "SELECT string_agg(version::text, ',' ORDER BY version)
                    FROM events WHERE kind = 'paymethod' AND aggregate = 1";
    let client = connect(&url).await;
    let versions: String = client.query_one(versions, &[]).await.unwrap().get(0);
    assert_eq!(versions, "1,2", "one event per version");
    let payments = a
        .payments_of_paymethod(PaymethodId(1), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        payments.items.len(),
        2,
        "the registration's and the winner's"
    );
    let drawn = count(&url, "SELECT last_value FROM payment_ids").await;
    let stored = count(&url, "SELECT count(*) FROM payments").await;
    assert_eq!(
        drawn,
        stored + 1,
        "the loser drew its ids: it lost in its writes, not its checks"
    );
    let open: Vec<String> = a
        .open_intents_before(Timestamp(i64::MAX), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.base)
        .collect();
    assert_eq!(
        open,
        [loser],
        "the loser's intent stays open; {winner}'s is closed"
    );
    for id in [10, 20] {
        assert!(a.paymethod(PaymethodId(id)).await.unwrap().is_some());
    }
    assert!(a.meta(BREAKER_OPEN_UNTIL).await.unwrap().is_some());
    assert!(a.meta(SHIPPING_PAUSED).await.unwrap().is_some());
    assert_eq!(a.audit(0, 10).await.unwrap().items.len(), 2);
}

#[tokio::test]
async fn two_replicas_creating_one_method_or_using_one_key_at_once_one_is_refused() {
    let _serial = serial().await;
    let Some((a, b, url)) = replicas("race create").await else {
        return;
    };
    let alice = customer("alice");
    for base in ["one_a", "one_b", "key_a", "key_b"] {
        opened(&a, base).await;
    }
    // Inserts wait for the table; the checks (plain reads) do not.
    let lock = "LOCK TABLE paymethods IN SHARE MODE";
    let same_id = |base: &str| vec![register(7, &alice, intent(base, "n"), None).into()];
    let (ra, rb) = race(
        &url,
        blocker(&url, lock).await,
        (&a, same_id("one_a")),
        (&b, same_id("one_b")),
    )
    .await;
    let seen = [ra[0].clone().err(), rb[0].clone().err()];
    either(seen, [None, Some(Rejected::VersionConflict)]);
    let events = "SELECT count(*) FROM events WHERE kind = 'paymethod' AND aggregate = 7";
    assert_eq!(count(&url, events).await, 1);

    let same_key = |id, base: &str| vec![register(id, &alice, intent(base, "n"), Some("k")).into()];
    let (ra, rb) = race(
        &url,
        blocker(&url, lock).await,
        (&a, same_key(8, "key_a")),
        (&b, same_key(9, "key_b")),
    )
    .await;
    let seen = [ra[0].clone().err(), rb[0].clone().err()];
    either(seen, [None, Some(Rejected::KeyRecorded)]);
    let winner = if ra[0].is_ok() { 8 } else { 9 };
    let loser = 17 - winner;
    assert!(a.paymethod(PaymethodId(winner)).await.unwrap().is_some());
    assert!(a.paymethod(PaymethodId(loser)).await.unwrap().is_none());
    let key = paytree::domain::IdempotencyKey::parse("k").unwrap();
    let record = a.idempotency(&alice, &key).await.unwrap().unwrap();
    let paytree::domain::idempotency::IdempotentOutcome::Registered { method, .. } = record.outcome
    else {
        panic!("a registration's outcome");
    };
    assert_eq!(
        method.id,
        PaymethodId(winner),
        "the key keeps the winner's outcome"
    );
    let events = format!("SELECT count(*) FROM events WHERE aggregate = {loser}");
    assert_eq!(
        count(&url, &events).await,
        0,
        "the loser's event was undone"
    );
}

#[tokio::test]
async fn an_intent_closed_by_one_replica_refuses_the_registration_of_another() {
    let _serial = serial().await;
    let Some((a, b, url)) = replicas("race intent").await else {
        return;
    };
    let alice = customer("alice");
    opened(&a, "reg_5").await;
    let open = a.open_intents_before(Timestamp(i64::MAX), None, 1).await;
    let open = open.unwrap().remove(0);
    let resolve = ResolveIntent {
        intent: open.handle(),
        opened_at: open.opened_at,
        verdict: Verdict::Close,
    };
    let register = register(5, &alice, intent("reg_5", "n"), None);
    let lock = "SELECT FROM intents WHERE base = 'reg_5' FOR UPDATE";
    let (ra, rb) = race(
        &url,
        blocker(&url, lock).await,
        (&a, vec![register.into()]),
        (&b, vec![resolve.into()]),
    )
    .await;
    let seen = [ra[0].clone().err(), rb[0].clone().err()];
    either(seen, [None, Some(Rejected::IntentClosed)]);
    let registered = a.paymethod(PaymethodId(5)).await.unwrap().is_some();
    assert_eq!(
        registered,
        ra[0].is_ok(),
        "stored only if it closed the intent"
    );
    assert_eq!(a.open_intents().await.unwrap(), 0);
}

#[tokio::test]
async fn two_replicas_opening_one_intent_at_once_both_answer_its_one_nonce() {
    let _serial = serial().await;
    let Some((a, b, url)) = replicas("race open").await else {
        return;
    };
    let alice = customer("alice");
    // Neither finds it open; both insert, and the table's lock holds both inserts back.
    let lock = "LOCK TABLE intents IN SHARE MODE";
    let (ra, rb) = race(
        &url,
        blocker(&url, lock).await,
        (&a, vec![open("reg_1", "from_a", &alice).into()]),
        (&b, vec![open("reg_1", "from_b", &alice).into()]),
    )
    .await;
    let nonces = [ra, rb].map(|mut r| r.remove(0).unwrap().nonce.unwrap());
    assert_eq!(nonces[0], nonces[1], "the one open intent's nonce, to both");
    let open = a.open_intents_before(Timestamp(i64::MAX), None, 10).await;
    let open = open.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].nonce, nonces[0]);
}

#[tokio::test]
async fn two_batches_that_deadlock_are_tried_again_and_both_commit() {
    let _serial = serial().await;
    let Some((a, b, url)) = replicas("deadlock").await else {
        return;
    };
    registered(&a, 1).await;
    registered(&a, 2).await;
    for base in ["a1", "a2", "b1", "b2"] {
        opened(&a, base).await;
    }
    let one = a.paymethod(PaymethodId(1)).await.unwrap().unwrap();
    let two = a.paymethod(PaymethodId(2)).await.unwrap().unwrap();
    // Each batch changes both methods, in the other's order: once the blocker lets go, each
    // holds the method the other needs next.
    let a_batch = vec![
        change(&one, 3, 1, intent("a1", "n")).into(),
        change(&two, 3, 1, intent("a2", "n")).into(),
    ];
    let b_batch = vec![
        change(&two, 4, 1, intent("b2", "n")).into(),
        change(&one, 4, 1, intent("b1", "n")).into(),
    ];
    let lock = "SELECT FROM paymethods WHERE id IN (1, 2) FOR UPDATE";
    let deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()";
    let before = count(&url, deadlocks).await;
    let (ra, rb) = race(
        &url,
        blocker(&url, lock).await,
        (&a, a_batch),
        (&b, b_batch),
    )
    .await;

    let conflict = Some(Rejected::VersionConflict);
    let lost = vec![conflict.clone(), conflict];
    either([rejections(&ra), rejections(&rb)], [vec![None, None], lost]);
    for id in [1, 2] {
        let stored = a.paymethod(PaymethodId(id)).await.unwrap().unwrap();
        assert_eq!(stored.method.version, 2);
    }
    // The server's count of deadlocks is written a moment after the fact.
    for _ in 0..500 {
        if count(&url, deadlocks).await > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no deadlock was detected: the test did not test the retry");
}
