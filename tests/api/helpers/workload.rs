//! The crash test's clients, shared with the backup test: writers that register, change,
//! order and cancel under Idempotency-Keys and note what each answer acknowledged
//! ([`Acks`]), and a seller that ships. They run until the server goes away.

use super::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the clients were told, across all rounds.
#[derive(Debug, Default, Clone)]
pub struct Acks {
    /// Idempotency-Key → the method id its 201 named.
    pub registered: BTreeMap<String, u64>,
    /// Method id → the highest version a 200 (change) acknowledged.
    pub changed: BTreeMap<u64, u64>,
    /// Per writer: a request sent but not answered, resent with its key next time.
    pub unanswered: BTreeMap<usize, (String, Value)>,
    /// Keys whose registration was declined (402): final, nothing stored.
    pub declined: BTreeSet<String>,
    /// Idempotency-Key → the order id its 201 named.
    pub ordered: BTreeMap<String, u64>,
    /// Per writer: an order sent but not answered, resent with its key next time.
    pub unanswered_orders: BTreeMap<usize, (String, Value)>,
    /// Orders whose cancellation was acknowledged (202 or 200).
    pub cancels: BTreeSet<u64>,
    /// Shipments acknowledged shipped (200).
    pub ships: BTreeSet<u64>,
    /// Orders refused with 422: their card is not stored (lost).
    pub refused_orders: usize,
}

pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the clock; the seed is printed, so a failing run can be told apart.
    pub fn from_clock(test: &str) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        eprintln!("{test} seed {seed:x}");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn customer(writer: usize) -> String {
    format!("crash{writer}")
}

/// What a writer may do besides registering.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Cancel its orders now and then (the saga refunds them at the payment system).
    pub cancels: bool,
}

/// One writer: registers with fresh keys (resending an unanswered one first), and now and
/// then changes one of its methods, orders with one (resending an unanswered order first) or,
/// if `mix` says so, cancels one of its orders, until the server goes away (or `stop` is set).
pub async fn writer(
    app: TestApp,
    w: usize,
    acks: Arc<Mutex<Acks>>,
    seed: u64,
    mix: Mix,
    stop: Arc<AtomicBool>,
) {
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
            5 if mix.cancels && !orders.is_empty() => {
                cancel(&app, pick(&mut rng, &orders), &acks).await
            }
            _ => register(&app, w, seed, &mut n, &mut rng, &acks).await,
        };
        if done.is_none() || stop.load(Ordering::SeqCst) {
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
pub async fn post_keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
) -> Option<(u16, Value)> {
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
pub async fn seller(app: TestApp, acks: Arc<Mutex<Acks>>, seed: u64) {
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
