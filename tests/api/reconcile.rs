//! Payment intents and reconciliation against `paytree provider`'s own ledger: lost answers
//! end in exactly one registration or one refund per request, never both and never neither;
//! a key sent many times authorizes once; kept keys are pruned after their retention.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn body(customer: &str) -> Value {
    json!({"customerId": customer, "kind": "card", "number": VISA})
}

fn approved_ids(ledger: &Value) -> Vec<(String, bool)> {
    ledger["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "approved")
        .map(|a| (a["id"].as_str().unwrap().to_owned(), a["refunded"] == true))
        .collect()
}

/// Flags for a server against `provider` with a 300 ms payment timeout, the breaker's open
/// period and the reconciliation delay in milliseconds, and `more` flags.
fn reconciling<'a>(
    provider: &'a TestProvider,
    breaker_open_ms: &'a str,
    reconcile_after_ms: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut flags = vec![
        "--provider",
        &provider.address,
        "--payment-timeout-ms",
        "300",
        "--breaker-open-ms",
        breaker_open_ms,
        "--reconcile-after-ms",
        reconcile_after_ms,
    ];
    flags.extend_from_slice(more);
    flags
}

#[tokio::test]
async fn approvals_whose_answer_was_lost_end_registered_by_a_retry_or_refunded() {
    let provider = spawn_provider().await;
    let flags = reconciling(&provider, "100", "3000", &["--max-payment-calls", "128"]);
    let app = spawn_app_with(&flags).await;
    const N: usize = 100;
    provider.set_faults(json!({"dropRate": 1.0})).await;
    let sends = (0..N).map(|i| {
        let app = TestApp::handle(&app);
        async move {
            let r = app
                .register_with_key(&format!("k{i}"), &body(&format!("drop{i}")))
                .await;
            r.status().as_u16()
        }
    });
    let statuses = futures_join_all(sends).await;
    assert!(
        statuses.iter().all(|s| *s == 503),
        "every answer was lost: {statuses:?}"
    );
    let ledger = provider.ledger().await;
    assert_eq!(
        approved_ids(&ledger).len(),
        N,
        "the payment system approved each one"
    );

    // Half the clients retry with their key (before reconciliation is due); the other half
    // give up.
    provider.set_faults(json!({})).await;
    let mut registered = BTreeMap::new();
    for i in (0..N).step_by(2) {
        let mut tries = 0;
        let created = loop {
            let r = app
                .register_with_key(&format!("k{i}"), &body(&format!("drop{i}")))
                .await;
            if r.status() == 201 {
                break r.json::<Value>().await.unwrap();
            }
            assert_eq!(r.status(), 503, "only the breaker may refuse a retry");
            tries += 1;
            assert!(tries < 50, "retry of k{i} never got through");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        registered.insert(i, created);
    }

    // The reconciler refunds the approvals nobody claimed.
    let mut refunded = 0;
    for _ in 0..200 {
        refunded = approved_ids(&provider.ledger().await)
            .iter()
            .filter(|(_, r)| *r)
            .count();
        if refunded >= N / 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ledger = approved_ids(&provider.ledger().await);
    assert_eq!(
        ledger.len(),
        N,
        "a retry reused its authorization: none was made twice"
    );
    assert_eq!(
        refunded,
        N / 2,
        "exactly the abandoned approvals were refunded"
    );
    let unrefunded: BTreeSet<_> = ledger
        .iter()
        .filter(|(_, r)| !r)
        .map(|(id, _)| id.clone())
        .collect();

    let mut claimed = BTreeSet::new();
    for i in 0..N {
        let customer = format!("drop{i}");
        let methods = app.list(&customer).await.items().len();
        let payments = app.payments_of(&customer).await["items"]
            .as_array()
            .unwrap()
            .clone();
        if i % 2 == 0 {
            assert_eq!(methods, 1, "{customer} retried and is registered once");
            assert_eq!(payments.len(), 1, "{customer}: {payments:?}");
            assert_eq!(payments[0]["purpose"], "verification");
            let auth = payments[0]["providerReference"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                unrefunded.contains(&auth),
                "{customer}'s registration holds a live approval"
            );
            assert!(claimed.insert(auth), "two registrations hold one approval");
            assert_eq!(
                registered[&i]["id"],
                app.list(&customer).await["items"][0]["id"]
            );
        } else {
            assert_eq!(methods, 0, "{customer} gave up and has no method");
            assert_eq!(payments.len(), 1, "{customer}: {payments:?}");
            assert_eq!(payments[0]["purpose"], "refund");
            assert_eq!(payments[0]["status"], "refunded");
        }
    }
    assert_eq!(
        claimed, unrefunded,
        "every approval kept is held by a registration"
    );

    // A retry after the refund starts over: a new authorization, never the refunded one.
    let late = app.register_with_key("k1", &body("drop1")).await;
    assert_eq!(late.status(), 201);
    let payments = app.payments_of("drop1").await["items"]
        .as_array()
        .unwrap()
        .clone();
    let verification = payments
        .iter()
        .find(|p| p["purpose"] == "verification")
        .unwrap();
    let auth = verification["providerReference"].as_str().unwrap();
    assert!(!unrefunded.contains(auth) && ledger.iter().all(|(id, _)| id != auth));
    assert_eq!(approved_ids(&provider.ledger().await).len(), N + 1);
}

#[tokio::test]
async fn a_thousand_keys_sent_five_times_each_authorize_and_register_once_per_key() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address.clone()]).await;
    const KEYS: usize = 1000;
    const CUSTOMERS: usize = 50;
    // Every key five times, shuffled, sent by 16 clients at once.
    let mut sends: Vec<usize> = (0..KEYS).flat_map(|k| [k; 5]).collect();
    shuffle(&mut sends);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(sends));
    let workers = (0..16).map(|_| {
        let app = TestApp::handle(&app);
        let queue = queue.clone();
        async move {
            let mut seen = Vec::new();
            loop {
                let Some(k) = queue.lock().unwrap().pop() else {
                    return seen;
                };
                let customer = format!("many{}", k % CUSTOMERS);
                let r = app
                    .register_with_key(&format!("key-{k}"), &body(&customer))
                    .await;
                let status = r.status().as_u16();
                let id = if status == 201 {
                    r.json::<Value>().await.unwrap()["id"].as_u64()
                } else {
                    None
                };
                seen.push((k, status, id));
            }
        }
    });
    let results: Vec<_> = futures_join_all(workers).await.concat();
    let mut ids: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for (k, status, id) in &results {
        assert!(
            *status == 201 || *status == 409,
            "key-{k}: unexpected status {status}"
        );
        if let Some(id) = id {
            ids.entry(*k).or_default().insert(*id);
        }
    }
    assert_eq!(ids.len(), KEYS, "every key got a 201 at least once");
    assert!(
        ids.values().all(|set| set.len() == 1),
        "every 201 for a key names the same method"
    );
    let mut methods = 0;
    for c in 0..CUSTOMERS {
        methods += app.list(&format!("many{c}")).await.items().len();
    }
    assert_eq!(methods, KEYS, "one method per key");
    let ledger = provider.ledger().await;
    assert_eq!(
        ledger["authorizations"].as_array().unwrap().len(),
        KEYS,
        "one authorization per key at the payment system"
    );
}

#[tokio::test]
async fn keys_are_pruned_after_their_retention_and_then_run_again() {
    // It waits for the pruned-records counter: a process of its own.
    let app = spawn_process_with(&["--idempotency-retention-ms", "1"]).await;
    let first = app.register_with_key("once", &body("prune")).await;
    assert_eq!(first.status(), 201);
    let mut replayed = true;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let metrics = app.metrics().await;
        if metrics
            .lines()
            .any(|l| l.starts_with("paytree_pruned_records_total") && !l.ends_with(" 0"))
        {
            let again = app.register_with_key("once", &body("prune")).await;
            assert_eq!(again.status(), 201);
            replayed = again.headers().get("idempotent-replayed").is_some();
            break;
        }
    }
    assert!(!replayed, "after pruning the key runs as a new request");
    assert_eq!(app.list("prune").await.items().len(), 2);
}

/// Registrations whose answers are lost: each leaves an approval at the payment system and an
/// open intent behind. Returns the approvals' ids, sorted.
async fn lost_approvals(
    app: &TestApp,
    provider: &TestProvider,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    provider.set_faults(json!({"dropRate": 1.0})).await;
    let sends = (0..n).map(|i| {
        let app = TestApp::handle(app);
        let key = format!("{prefix}{i}");
        async move { app.register_with_key(&key, &body(&key)).await.status() }
    });
    let statuses = futures_join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    provider.set_faults(json!({})).await;
    let mut ids: Vec<String> = approved_ids(&provider.ledger().await)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    assert_eq!(ids.len(), n);
    ids
}

#[tokio::test]
async fn a_refund_the_payment_system_always_refuses_does_not_hold_up_the_refunds_behind_it() {
    let provider = spawn_provider().await;
    // It reads the reconciliation counters as absolute values: a process of its own.
    let app = spawn_process_with(&reconciling(&provider, "100", "1000", &[])).await;
    const N: usize = 4;
    let ids = lost_approvals(&app, &provider, "refused", N).await;

    // Every refund is refused until all four are owed; then only the first of them (refunds
    // owed are kept in authorization order) is refused, for good.
    provider.set_faults(json!({"refuseRefunds": ids})).await;
    let abandoned = r#"paytree_reconciliations_total{outcome="abandoned"}"#;
    for _ in 0..200 {
        if metric(&app, abandoned).await >= N as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(&app, abandoned).await,
        N as f64,
        "every approval is owed back"
    );
    provider
        .set_faults(json!({"refuseRefunds": [ids[0]]}))
        .await;

    let mut refunded = Vec::new();
    for _ in 0..100 {
        refunded = approved_ids(&provider.ledger().await)
            .into_iter()
            .filter(|(_, r)| *r)
            .map(|(id, _)| id)
            .collect();
        refunded.sort();
        if refunded.len() >= N - 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        refunded,
        ids[1..],
        "the refunds behind the refused one were made"
    );
    let failed = r#"paytree_reconciliations_total{outcome="refund_failed"}"#;
    let before = metric(&app, failed).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        metric(&app, failed).await > before,
        "the refused refund is still owed and tried again each round"
    );
}

#[tokio::test]
async fn while_the_breaker_is_open_a_reconcile_round_makes_no_call_to_the_payment_system() {
    let provider = spawn_provider().await;
    // It reads the reconciliation counters and the open-intents gauge: a process of its own.
    let app = spawn_process_with(&reconciling(&provider, "60000", "2000", &[])).await;
    // Five lost answers: five timeouts open the breaker and leave five intents, which fall due
    // for reconciliation two seconds after they were opened, while it is still open.
    lost_approvals(&app, &provider, "open", 5).await;
    let breaker = app.breaker().await;
    assert_eq!(breaker["state"], "open");
    let before = provider.stats().await;

    // Rounds run every 500 ms; eight of them take the rounds well past the intents' due time.
    let skipped = r#"paytree_reconciliations_total{outcome="breaker_open"}"#;
    for _ in 0..200 {
        let stats = provider.stats().await;
        assert_eq!(
            (&stats["lookupCalls"], &stats["refundCalls"]),
            (&before["lookupCalls"], &before["refundCalls"]),
            "a reconcile round called the payment system while the breaker was open"
        );
        if metric(&app, skipped).await >= 8.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric(&app, skipped).await >= 8.0, "rounds ran meanwhile");
    assert_eq!(
        metric(&app, "paytree_payment_intents_open").await,
        5.0,
        "the intents wait for the breaker to close"
    );
    let after = app.breaker().await;
    assert_eq!(
        (&after["state"], &after["openings"]),
        (&breaker["state"], &breaker["openings"]),
        "one open period throughout"
    );
}

/// Fisher–Yates with a fixed seed, so a failure can be reproduced.
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_order_charged_whose_answer_was_lost_is_placed_by_its_retry_or_refunded_in_full() {
    let provider = spawn_provider().await;
    let flags = reconciling(&provider, "100", "1000", &[]);
    let app = spawn_app_with(&flags).await;
    let card = app.shopper("alice").await;
    let send = |key: &'static str| {
        let app = app.clone();
        async move {
            app.client
                .post(app.url("/orders"))
                .header("idempotency-key", key)
                .json(&order_body("alice", card, &[(TEE, 2)]))
                .send()
                .await
                .unwrap()
        }
    };
    provider.set_faults(json!({"dropRate": 1.0})).await;
    assert_problem(send("kept").await, 503, "payment-unavailable").await;
    assert_problem(send("given-up").await, 503, "payment-unavailable").await;
    provider.set_faults(json!({})).await;
    // The client that retries with its key gets the order its first charge paid for.
    let r = send("kept").await;
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.unwrap();

    // The other charge is refunded in full once reconciliation is due; no order holds it.
    let mut refunds = Vec::new();
    for _ in 0..100 {
        refunds = app.payments_of("alice").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["purpose"] == "refund")
            .cloned()
            .collect();
        if !refunds.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 38_000);
    assert!(
        refunds[0]["orderId"].is_null(),
        "no order was placed for it"
    );
    let ledger = provider.ledger().await;
    let charges: Vec<&Value> = ledger["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["amount"] == 38_000)
        .collect();
    assert_eq!(charges.len(), 2, "one charge per key: {charges:?}");
    let paid: Value = app.payment(&order["paymentId"]).await.json().await.unwrap();
    for charge in charges {
        let kept = charge["id"] == paid["providerReference"];
        assert_eq!(charge["refunded"], !kept, "{charge}");
        let refunded = if kept { 0 } else { 38_000 };
        assert_eq!(charge["refundedAmount"], refunded, "{charge}");
    }
    assert_eq!(
        app.ok_json("/orders?customerId=alice").await.items().len(),
        1
    );
}
