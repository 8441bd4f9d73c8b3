//! The crash test: concurrent writers (registering, changing, ordering, cancelling) and a
//! seller (shipping) against the real binary, `kill -9` at random moments, restarts on the
//! same data dir, then a Jepsen-style check of what every side recorded:
//!
//! - acknowledged-but-lost: a 201 or 200 whose method, version or order is not in the store,
//!   a shipment acknowledged shipped that is not, a cancellation acknowledged that did not
//!   complete (an order left `cancelling`, or `placed`);
//! - duplicates: more stored methods or orders than Idempotency-Keys acknowledged (clients
//!   resend an unanswered request with its key until it is answered);
//! - messages missing or duplicated per event: a method has one message per version, an
//!   order one per event the customer hears of; no event has two;
//! - unpaid: a method whose verification payment, or an order whose charge, is not an
//!   approved authorization in the payment system's own ledger (`GET /v1/ledger`);
//! - charged without a registration or an order: an approved, unrefunded authorization that
//!   no stored payment record claims, once reconciliation has run;
//! - refunds: a cancelled order without exactly one refund of its total (in paytree and in
//!   the ledger), a shipped order with one, an order with two;
//! - shipments: an order without exactly one, or a cancelled order whose shipment shipped.
//!
//! `PAYTREE_CRASH_ROUNDS` sets the number of kill rounds (default 10, sized for CI). The
//! negative control runs the same check against a deliberately broken server
//! (`--test-ack-before-commit`) and must see losses.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 8;

#[derive(Debug, Default)]
struct Report {
    rounds: usize,
    acknowledged: usize,
    lost: usize,
    duplicate: usize,
    missing_messages: usize,
    duplicate_messages: usize,
    unpaid: usize,
    charged_without_registration: usize,
    orders: usize,
    cancelled: usize,
    shipped: usize,
    refunds_wrong: usize,
    shipments_wrong: usize,
}

/// What the clients were told, across all rounds.
#[derive(Debug, Default)]
struct Acks {
    /// Idempotency-Key → the method id its 201 named.
    registered: BTreeMap<String, u64>,
    /// Method id → the highest version a 200 (change) acknowledged.
    changed: BTreeMap<u64, u64>,
    /// Per writer: a request sent but not answered, resent with its key next time.
    unanswered: BTreeMap<usize, (String, Value)>,
    /// Keys whose registration was declined (402): final, nothing stored.
    declined: BTreeSet<String>,
    /// Idempotency-Key → the order id its 201 named.
    ordered: BTreeMap<String, u64>,
    /// Per writer: an order sent but not answered, resent with its key next time.
    unanswered_orders: BTreeMap<usize, (String, Value)>,
    /// Orders whose cancellation was acknowledged (202 or 200).
    cancels: BTreeSet<u64>,
    /// Shipments acknowledged shipped (200).
    ships: BTreeSet<u64>,
    /// Orders refused with 422: their card is not stored (lost).
    refused_orders: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn customer(writer: usize) -> String {
    format!("crash{writer}")
}

/// One writer: registers with fresh keys (resending an unanswered one first), and now and
/// then changes one of its methods, orders with one (resending an unanswered order first) or
/// cancels one of its orders, until the server goes away.
async fn writer(app: TestApp, w: usize, acks: Arc<Mutex<Acks>>, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut n = 0u64;
    loop {
        let (mine, orders) = {
            let a = acks.lock().unwrap();
            let prefix = format!("w{w}-");
            let of = |m: &BTreeMap<String, u64>| -> Vec<u64> {
                m.iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, id)| *id)
                    .collect()
            };
            (of(&a.registered), of(&a.ordered))
        };
        let pick = |rng: &mut Rng, ids: &[u64]| ids[rng.below(ids.len() as u64) as usize];
        let done = match rng.below(10) {
            0 | 1 if !mine.is_empty() => change(&app, pick(&mut rng, &mine), &mut rng, &acks).await,
            2..=4 if !mine.is_empty() => {
                let card = pick(&mut rng, &mine);
                order(&app, w, card, seed, &mut n, &acks).await
            }
            5 if !orders.is_empty() => cancel(&app, pick(&mut rng, &orders), &acks).await,
            _ => register(&app, w, seed, &mut n, &mut rng, &acks).await,
        };
        if done.is_none() {
            return; // the server was killed: what was in flight stays unanswered
        }
    }
}

async fn change(app: &TestApp, id: u64, rng: &mut Rng, acks: &Mutex<Acks>) -> Option<()> {
    let number = if rng.below(2) == 0 { VISA } else { MASTERCARD };
    let r = app
        .client
        .patch(app.url(&format!("/paymethods/{id}")))
        .json(&json!({"number": number}))
        .send()
        .await
        .ok()?;
    if r.status() == 200 {
        let body = r.json::<Value>().await.ok()?;
        let version = body["version"].as_u64().unwrap();
        let mut a = acks.lock().unwrap();
        let v = a.changed.entry(id).or_default();
        *v = (*v).max(version);
    }
    Some(())
}

async fn register(
    app: &TestApp,
    w: usize,
    seed: u64,
    n: &mut u64,
    rng: &mut Rng,
    acks: &Mutex<Acks>,
) -> Option<()> {
    let pending = acks.lock().unwrap().unanswered.get(&w).cloned();
    let (key, body) = pending.unwrap_or_else(|| {
        *n += 1;
        let key = format!("w{w}-{seed:x}-{n}");
        let number = if rng.below(20) == 0 { DECLINED } else { VISA };
        let body = json!({"customerId": customer(w), "kind": "card", "number": number});
        (key, body)
    });
    acks.lock()
        .unwrap()
        .unanswered
        .insert(w, (key.clone(), body.clone()));
    let (status, answer) = post_keyed(app, "/paymethods", &key, &body).await?;
    let mut a = acks.lock().unwrap();
    match status {
        201 => {
            let id = answer.id();
            let first = a.registered.insert(key.clone(), id);
            assert!(
                first.is_none_or(|old| old == id),
                "key {key} answered with two different methods"
            );
            a.unanswered.remove(&w);
        }
        402 => {
            a.declined.insert(key);
            a.unanswered.remove(&w);
        }
        // 503 (payment system slow, breaker, shutting down) or 409 (a resend racing its
        // own first attempt): not final, resent with the same key.
        503 | 409 => {
            drop(a);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        other => panic!("unexpected {other}: {answer}"),
    }
    Some(())
}

/// POSTs `body` under an `Idempotency-Key`; the status and the answer, or `None` once the
/// server is gone (killed: the request stays unanswered).
async fn post_keyed(app: &TestApp, path: &str, key: &str, body: &Value) -> Option<(u16, Value)> {
    let r = app
        .client
        .post(app.url(path))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json::<Value>().await.ok()?))
}

async fn order(
    app: &TestApp,
    w: usize,
    card: u64,
    seed: u64,
    n: &mut u64,
    acks: &Mutex<Acks>,
) -> Option<()> {
    let pending = acks.lock().unwrap().unanswered_orders.get(&w).cloned();
    let (key, body) = pending.unwrap_or_else(|| {
        *n += 1;
        let key = format!("w{w}-{seed:x}-order-{n}");
        (
            key,
            order_body(&customer(w), card, &[(TEE, 1 + (*n % 3) as u32)]),
        )
    });
    acks.lock()
        .unwrap()
        .unanswered_orders
        .insert(w, (key.clone(), body.clone()));
    let (status, answer) = post_keyed(app, "/orders", &key, &body).await?;
    let mut a = acks.lock().unwrap();
    match status {
        201 => {
            let id = answer.id();
            let first = a.ordered.insert(key.clone(), id);
            assert!(
                first.is_none_or(|old| old == id),
                "key {key} answered with two different orders"
            );
            a.unanswered_orders.remove(&w);
        }
        // The card is not stored: only a server that lost its registration says so (the
        // negative control); the healthy run must see none.
        422 => {
            a.refused_orders += 1;
            a.unanswered_orders.remove(&w);
        }
        503 | 409 => {
            drop(a);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        other => panic!("unexpected order answer {other}: {answer}"),
    }
    Some(())
}

async fn cancel(app: &TestApp, order: u64, acks: &Mutex<Acks>) -> Option<()> {
    let r = app
        .client
        .post(app.url(&format!("/orders/{order}/cancel")))
        .send()
        .await
        .ok()?;
    match r.status().as_u16() {
        200 | 202 => {
            acks.lock().unwrap().cancels.insert(order);
        }
        409 | 503 => {} // shipped already; or not now
        other => panic!("unexpected cancel answer {other}"),
    }
    Some(())
}

/// The seller: ships pending shipments, until the server goes away.
async fn seller(app: TestApp, acks: Arc<Mutex<Acks>>, seed: u64) {
    let mut rng = Rng(seed | 1);
    loop {
        let Ok(r) = app
            .client
            .get(app.url("/shipments?status=pending&limit=20"))
            .send()
            .await
        else {
            return;
        };
        let Ok(page) = r.json::<Value>().await else {
            return;
        };
        let Some(pending) = page["items"].as_array() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        for shipment in pending {
            // Not every one at once: some orders get the time to be cancelled first.
            if rng.below(3) != 0 {
                continue;
            }
            let id = shipment.id();
            let ship = app
                .client
                .post(app.url(&format!("/shipments/{id}/ship")))
                .json(&json!({"carrier": "CJ", "trackingNumber": format!("T{id}")}))
                .send()
                .await;
            let Ok(r) = ship else {
                return;
            };
            if r.status() == 200 {
                acks.lock().unwrap().ships.insert(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn run(rounds: usize, extra: &[&str]) -> Report {
    let provider = spawn_provider().await;
    // A few approvals lose their answer, so intents are left for the reconciler too.
    provider.set_faults(json!({"dropRate": 0.01})).await;
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut flags = vec![
        "--provider".to_owned(),
        provider.address.clone(),
        "--payment-timeout-ms".into(),
        "300".into(),
        "--reconcile-after-ms".into(),
        "1500".into(),
        "--breaker-failures".into(),
        "1000".into(),
    ];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let acks = Arc::new(Mutex::new(Acks::default()));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed:x}");
    let mut rng = Rng(seed | 1);

    for round in 0..rounds {
        let mut app = start_serve(&dir, &flags).await;
        if round == 0 {
            app.stock(TEE, 19_000, true).await;
        }
        let mut clients: Vec<_> = (0..WRITERS)
            .map(|w| {
                let app = TestApp::handle(&app);
                let s = rng.next();
                tokio::spawn(writer(app, w, acks.clone(), s))
            })
            .collect();
        clients.push(tokio::spawn(seller(
            TestApp::handle(&app),
            acks.clone(),
            rng.next(),
        )));
        tokio::time::sleep(Duration::from_millis(100 + rng.below(500))).await;
        app.kill().await;
        for c in clients {
            c.await.unwrap();
        }
        let a = acks.lock().unwrap();
        eprintln!(
            "round {round}: {} registrations, {} orders, {} cancellations, {} shipments acknowledged so far",
            a.registered.len(),
            a.ordered.len(),
            a.cancels.len(),
            a.ships.len()
        );
    }

    // The last run: no kill. Unanswered requests are resent until answered, the payment
    // system answers everything, and the reconciler settles what was left open.
    provider.set_faults(json!({})).await;
    let app = start_serve(&dir, &flags).await;
    let resends: Vec<_> = acks
        .lock()
        .unwrap()
        .unanswered
        .clone()
        .into_iter()
        .collect();
    for (w, (key, body)) in resends {
        let mut tries = 0;
        loop {
            let r = app.register_with_key(&key, &body).await;
            let status = r.status().as_u16();
            let answer: Value = r.json().await.unwrap();
            let mut a = acks.lock().unwrap();
            match status {
                201 => {
                    let id = answer.id();
                    assert!(
                        a.registered
                            .insert(key.clone(), id)
                            .is_none_or(|old| old == id)
                    );
                    a.unanswered.remove(&w);
                    break;
                }
                402 => {
                    a.declined.insert(key.clone());
                    a.unanswered.remove(&w);
                    break;
                }
                _ => {
                    tries += 1;
                    assert!(tries < 100, "{key} never answered: {status} {answer}");
                }
            }
            drop(a);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let order_resends: Vec<_> = acks
        .lock()
        .unwrap()
        .unanswered_orders
        .clone()
        .into_iter()
        .collect();
    for (w, (key, body)) in order_resends {
        let mut tries = 0;
        loop {
            let (status, answer) = post_keyed(&app, "/orders", &key, &body)
                .await
                .expect("the last server stays up");
            if status == 201 {
                let mut a = acks.lock().unwrap();
                let id = answer.id();
                assert!(
                    a.ordered
                        .insert(key.clone(), id)
                        .is_none_or(|old| old == id)
                );
                a.unanswered_orders.remove(&w);
                break;
            }
            tries += 1;
            assert!(tries < 100, "{key} never answered: {status} {answer}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut intents_open = f64::MAX;
    for _ in 0..300 {
        intents_open = metric(&app, "paytree_payment_intents_open").await;
        if intents_open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(intents_open, 0.0, "the reconciler settled every intent");
    wait_for_the_saga(&app).await;
    // A last event marks the head: the notifier has made every message before it.
    let last = app.register(&customer(0), "card", VISA).await;
    assert_eq!(last.status(), 201);
    // (A server that acknowledges before its commit cannot tell the position: 0.)
    let head = position(&last);
    if head > 0 {
        wait_for_event(&app, &customer(0), head).await;
    } else {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let a = std::mem::take(&mut *acks.lock().unwrap());
    let mut report = Report {
        rounds,
        acknowledged: a.registered.len()
            + a.changed.len()
            + a.ordered.len()
            + a.cancels.len()
            + a.ships.len(),
        ..Report::default()
    };
    let mut stored: BTreeMap<u64, Value> = BTreeMap::new();
    let mut orders: BTreeMap<u64, Value> = BTreeMap::new();
    let mut payments = Vec::new();
    let mut messages = Vec::new();
    for w in 0..WRITERS {
        let c = customer(w);
        for m in app.all_items(&format!("/paymethods?customerId={c}")).await {
            stored.insert(m.id(), m);
        }
        for o in app.all_items(&format!("/orders?customerId={c}")).await {
            orders.insert(o.id(), o);
        }
        payments.extend(app.all_items(&format!("/payments?customerId={c}")).await);
        messages.extend(app.all_items(&format!("/messages?customerId={c}")).await);
    }
    let shipments = app.all_items("/shipments").await;

    // Lost: anything acknowledged that is not stored as acknowledged.
    report.lost += a
        .registered
        .values()
        .filter(|id| !stored.contains_key(id))
        .count();
    report.lost += a
        .changed
        .iter()
        .filter(|(id, version)| {
            stored
                .get(id)
                .is_none_or(|m| m["version"].as_u64().unwrap() < **version)
        })
        .count();
    report.lost += a
        .ordered
        .values()
        .filter(|id| !orders.contains_key(id))
        .count();
    report.lost += a
        .cancels
        .iter()
        .filter(|id| {
            orders
                .get(id)
                .is_none_or(|o| o["status"] != "cancelled" && o["status"] != "shipped")
        })
        .count();
    report.lost += a
        .ships
        .iter()
        .filter(|id| {
            !shipments
                .iter()
                .any(|s| s.id() == **id && s["status"] == "shipped")
        })
        .count();
    // One extra method: the head marker registered above without a key.
    report.duplicate = stored.len().saturating_sub(a.registered.len() + 1)
        + orders.len().saturating_sub(a.ordered.len());

    // Messages: one per event the customer hears of, none twice.
    let mut per_event: BTreeMap<u64, usize> = BTreeMap::new();
    let mut of_method: BTreeMap<u64, u64> = BTreeMap::new();
    let mut of_order: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for m in &messages {
        *per_event.entry(m["eventId"].as_u64().unwrap()).or_default() += 1;
        if let Some(id) = m["paymethodId"].as_u64() {
            *of_method.entry(id).or_default() += 1;
        }
        if let Some(id) = m["orderId"].as_u64() {
            let kind = m["type"].as_str().unwrap().to_owned();
            of_order.entry(id).or_default().push(kind);
        }
    }
    report.duplicate_messages = per_event.values().filter(|n| **n > 1).count();
    for (id, method) in &stored {
        let version = method["version"].as_u64().unwrap();
        let got = of_method.get(id).copied().unwrap_or(0);
        report.missing_messages += version.saturating_sub(got) as usize;
        report.duplicate_messages += got.saturating_sub(version) as usize;
    }
    for (id, order) in &orders {
        let mut got = of_order.remove(id).unwrap_or_default();
        got.sort();
        let mut wanted: Vec<&str> = match order["status"].as_str().unwrap() {
            "placed" => vec!["OrderPlaced"],
            "cancelled" => vec!["OrderCancelled", "OrderPlaced"],
            _ if order["cancellation"].is_null() => vec!["OrderPlaced", "OrderShipped"],
            _ => vec!["OrderCancellationRefused", "OrderPlaced"],
        };
        wanted.sort();
        if got != wanted {
            eprintln!(
                "order {id} ({}): messages {got:?}, wanted {wanted:?}",
                order["status"]
            );
            report.missing_messages += wanted
                .iter()
                .filter(|w| !got.iter().any(|g| g == *w))
                .count();
            report.duplicate_messages += got.len().saturating_sub(wanted.len());
        }
    }
    report.duplicate_messages += of_order.values().map(Vec::len).sum::<usize>();

    // Paid: every method's verification and every order's charge is an approval of the
    // ledger (refunded only for a cancelled order); nothing approved is left unclaimed.
    let ledger = provider.ledger().await;
    let authorizations: BTreeMap<&str, &Value> = ledger["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a))
        .collect();
    let live: BTreeSet<&str> = authorizations
        .iter()
        .filter(|(_, a)| a["status"] == "approved" && a["refunded"] == false)
        .map(|(id, _)| *id)
        .collect();
    let by_id: BTreeMap<u64, &Value> = payments.iter().map(|p| (p.id(), p)).collect();
    for method in stored.values() {
        let payment = by_id.get(&method["verificationPaymentId"].as_u64().unwrap());
        let paid = payment.is_some_and(|p| {
            p["status"] == "approved" && live.contains(p["providerReference"].as_str().unwrap())
        });
        if !paid {
            report.unpaid += 1;
        }
    }
    for (id, order) in &orders {
        report.orders += 1;
        let total = order["total"].as_u64().unwrap();
        let charge = by_id.get(&order["paymentId"].as_u64().unwrap());
        let authorization =
            charge.and_then(|p| authorizations.get(p["providerReference"].as_str().unwrap()));
        let paid = charge.is_some_and(|p| {
            p["status"] == "approved" && p["orderId"] == *id && p["amount"] == total
        }) && authorization
            .is_some_and(|a| a["status"] == "approved" && a["amount"] == total);
        if !paid {
            report.unpaid += 1;
        }
        let refunds: Vec<&&Value> = by_id
            .values()
            .filter(|p| p["purpose"] == "refund" && p["orderId"] == *id)
            .collect();
        let refunded_at_provider =
            authorization.map_or(0, |a| a["refundedAmount"].as_u64().unwrap_or(0));
        let right = match order["status"].as_str().unwrap() {
            "cancelled" => {
                report.cancelled += 1;
                refunds.len() == 1
                    && refunds[0]["amount"] == total
                    && order["refundPaymentId"] == refunds[0]["id"]
                    && refunded_at_provider == total
            }
            status => {
                report.shipped += usize::from(status == "shipped");
                refunds.is_empty() && refunded_at_provider == 0
            }
        };
        if !right {
            eprintln!(
                "order {id}: refunds wrong: {order} {refunds:?} ledger refunded {refunded_at_provider}"
            );
            report.refunds_wrong += 1;
        }
    }
    let claimed: BTreeSet<&str> = payments
        .iter()
        .filter(|p| p["status"] == "approved")
        .map(|p| p["providerReference"].as_str().unwrap())
        .collect();
    report.charged_without_registration = live.iter().filter(|a| !claimed.contains(*a)).count();

    // Shipments: exactly one per order, cancelled for a cancelled order, shipped for a
    // shipped one.
    let mut per_order: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for s in &shipments {
        per_order
            .entry(s["orderId"].as_u64().unwrap())
            .or_default()
            .push(s);
    }
    for (id, order) in &orders {
        let theirs = per_order.remove(id).unwrap_or_default();
        let status = order["status"].as_str().unwrap();
        let right = theirs.len() == 1
            && match status {
                "cancelled" => theirs[0]["status"] == "cancelled",
                "shipped" => theirs[0]["status"] == "shipped",
                _ => theirs[0]["status"] == "pending",
            };
        if !right {
            eprintln!("order {id} ({status}): shipments {theirs:?}");
            report.shipments_wrong += 1;
        }
    }
    report.shipments_wrong += per_order.len();
    eprintln!("{}", report.summary());
    report
}

/// Waits until shipping and the saga have handled every event and no step is pending.
async fn wait_for_the_saga(app: &TestApp) {
    for _ in 0..600 {
        let mut settled = true;
        for series in [
            "paytree_shipping_lag_events",
            "paytree_saga_lag_events",
            "paytree_saga_pending{step=\"cancel_shipment\"}",
            "paytree_saga_pending{step=\"refund\"}",
            "paytree_saga_pending{step=\"mark_shipped\"}",
        ] {
            settled &= metric(app, series).await == 0.0;
        }
        if settled {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the saga did not settle in 60 s");
}

impl Report {
    fn summary(&self) -> String {
        format!(
            "crash test: {} kill rounds, {} acknowledged, {} lost, {} duplicate, {} messages missing, {} duplicated, {} unpaid, {} charged without a registration or order; {} orders ({} cancelled, {} shipped), {} with wrong refunds, {} with wrong shipments",
            self.rounds,
            self.acknowledged,
            self.lost,
            self.duplicate,
            self.missing_messages,
            self.duplicate_messages,
            self.unpaid,
            self.charged_without_registration,
            self.orders,
            self.cancelled,
            self.shipped,
            self.refunds_wrong,
            self.shipments_wrong
        )
    }
}

/// Waits until the message of the event at `position` exists (the notifier works in order).
async fn wait_for_event(app: &TestApp, customer: &str, position: u64) {
    for _ in 0..200 {
        let messages = app.messages(customer).await;
        if messages.iter().any(|m| m["eventId"] == position) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message for event {position}");
}

#[tokio::test]
async fn kill_9_at_random_moments_loses_nothing_acknowledged_and_leaves_no_unclaimed_charge() {
    let rounds = std::env::var("PAYTREE_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let report = run(rounds, &[]).await;
    assert!(report.acknowledged > 0, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.duplicate, 0, "{report:?}");
    assert_eq!(report.missing_messages, 0, "{report:?}");
    assert_eq!(report.duplicate_messages, 0, "{report:?}");
    assert_eq!(report.unpaid, 0, "{report:?}");
    assert_eq!(report.charged_without_registration, 0, "{report:?}");
    assert!(report.cancelled > 0 && report.shipped > 0, "{report:?}");
    assert_eq!(report.refunds_wrong, 0, "{report:?}");
    assert_eq!(report.shipments_wrong, 0, "{report:?}");
}

#[tokio::test]
async fn the_check_sees_losses_when_acknowledgements_come_before_the_commit() {
    let report = run(6, &["--test-ack-before-commit"]).await;
    assert!(
        report.lost > 0,
        "acknowledging before the commit must show as lost registrations: {report:?}"
    );
}
