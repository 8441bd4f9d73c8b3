//! The crash tests' clients, shared with the backup test: writers that register, change,
//! order and cancel under Idempotency-Keys and note what each answer acknowledged
//! ([`Acks`]), and a seller that ships. They run until the server goes away or, behind a
//! balancer over replicas, until told to stop: there a request that got no answer is sent
//! again with its key to another replica, as a client behind a load balancer would.

use super::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if done.is_none() {
            // The server was killed: what was in flight stays unanswered (a keyed request is
            // sent again later). Behind a balancer, the next request goes to another replica.
            if !app.balanced() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn change(app: &TestApp, id: u64, rng: &mut Rng, acks: &Mutex<Acks>) -> Option<()> {
    let number = if rng.below(2) == 0 { VISA } else { MASTERCARD };
    let patch = app.client.patch(app.url(&format!("/paymethods/{id}")));
    let r = app
        .send(patch.json(&json!({"number": number})))
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
    Keyed::Registration.send(app, acks, w, key, body).await
}

/// POSTs `body` under an `Idempotency-Key`; the status and the answer, or `None` once the
/// server is gone (killed: the request stays unanswered).
pub async fn post_keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let post = app.client.post(app.url(path));
    let r = app
        .send(post.header("idempotency-key", key).json(body))
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
    Keyed::Order.send(app, acks, w, key, body).await
}

/// The requests sent under an Idempotency-Key, each writer's unanswered one resent first.
#[derive(Debug, Clone, Copy)]
enum Keyed {
    Registration,
    Order,
}

impl Keyed {
    fn path(self) -> &'static str {
        match self {
            Keyed::Registration => "/paymethods",
            Keyed::Order => "/orders",
        }
    }

    /// Each writer's request of this kind that has no final answer yet.
    fn unanswered(self, a: &mut Acks) -> &mut BTreeMap<usize, (String, Value)> {
        match self {
            Keyed::Registration => &mut a.unanswered,
            Keyed::Order => &mut a.unanswered_orders,
        }
    }

    /// Sends writer `w`'s request (unanswered until a final answer comes); `None` if the
    /// server did not answer.
    async fn send(
        self,
        app: &TestApp,
        acks: &Mutex<Acks>,
        w: usize,
        key: String,
        body: Value,
    ) -> Option<()> {
        let pending = (key.clone(), body.clone());
        self.unanswered(&mut acks.lock().unwrap())
            .insert(w, pending);
        let (status, answer) = post_keyed(app, self.path(), &key, &body).await?;
        if !self.note(&mut acks.lock().unwrap(), w, key, status, &answer) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(())
    }

    /// Notes a final answer to writer `w`'s request under `key`; false if the answer is not
    /// final: 503 (payment system slow, breaker, shutting down) or 409 (a resend racing its
    /// own first attempt, or a key that a dead replica still claims), resent with the key.
    fn note(self, a: &mut Acks, w: usize, key: String, status: u16, answer: &Value) -> bool {
        match (self, status) {
            (_, 503 | 409) => return false,
            (Keyed::Registration, 201) => {
                let first = a.registered.insert(key.clone(), answer.id());
                assert!(
                    first.is_none_or(|old| old == answer.id()),
                    "{key}: two methods"
                );
            }
            (Keyed::Registration, 402) => {
                a.declined.insert(key);
            }
            (Keyed::Order, 201) => {
                let first = a.ordered.insert(key.clone(), answer.id());
                assert!(
                    first.is_none_or(|old| old == answer.id()),
                    "{key}: two orders"
                );
            }
            // The card is not stored: only a server that lost its registration says so (the
            // negative control); the healthy run must see none.
            (Keyed::Order, 422) => a.refused_orders += 1,
            (kind, other) => panic!("unexpected answer to {kind:?} {key}: {other} {answer}"),
        }
        self.unanswered(a).remove(&w);
        true
    }
}

async fn cancel(app: &TestApp, order: u64, acks: &Mutex<Acks>) -> Option<()> {
    let post = app.client.post(app.url(&format!("/orders/{order}/cancel")));
    let r = app.send(post).await.ok()?;
    match r.status().as_u16() {
        200 | 202 => {
            acks.lock().unwrap().cancels.insert(order);
        }
        409 | 503 => {} // shipped already; or not now
        other => panic!("unexpected cancel answer {other}"),
    }
    Some(())
}

/// The seller: ships pending shipments, until the server goes away (behind a balancer, until
/// `stop` is set).
pub async fn seller(app: TestApp, acks: Arc<Mutex<Acks>>, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = Rng(seed | 1);
    while !stop.load(Ordering::SeqCst) {
        let Some(pending) = pending_shipments(&app).await else {
            if !app.balanced() {
                return;
            }
            continue;
        };
        for shipment in pending {
            // Not every one at once: some orders get the time to be cancelled first.
            if rng.below(3) != 0 {
                continue;
            }
            let id = shipment.id();
            let post = app.client.post(app.url(&format!("/shipments/{id}/ship")));
            let body = json!({"carrier": "CJ", "trackingNumber": format!("T{id}")});
            match app.send(post.json(&body)).await {
                Ok(r) if r.status() == 200 => {
                    acks.lock().unwrap().ships.insert(id);
                }
                Ok(_) => {}
                Err(_) if app.balanced() => {}
                Err(_) => return,
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// A page of pending shipments (none while the answer is not a page); `None` if the server
/// did not answer.
async fn pending_shipments(app: &TestApp) -> Option<Vec<Value>> {
    let get = app
        .client
        .get(app.url("/shipments?status=pending&limit=20"));
    let page = app.send(get).await.ok()?.json::<Value>().await.ok()?;
    Some(page["items"].as_array().cloned().unwrap_or_default())
}

/// How many kill rounds a crash test runs: the environment's `var`, else `default`.
pub fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// The flags of the servers the crash tests kill: the payment system at `provider`, short
/// payment calls, intents reconciled soon, a breaker that does not open.
pub fn crash_flags(provider: &TestProvider) -> Vec<String> {
    [
        "--provider",
        &provider.address,
        "--payment-timeout-ms",
        "300",
        "--reconcile-after-ms",
        "1500",
        "--breaker-failures",
        "1000",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Sends every registration and order still unanswered again with its key until its answer
/// is final (for at most `patience` each), so that `acks` knows the fate of every key sent;
/// how many got no final answer in time (they stay unanswered).
pub async fn resend_unanswered(app: &TestApp, acks: &Mutex<Acks>, patience: Duration) -> usize {
    let mut left = 0;
    for kind in [Keyed::Registration, Keyed::Order] {
        let pending = kind.unanswered(&mut acks.lock().unwrap()).clone();
        for (w, (key, body)) in pending {
            match answer_finally(app, kind.path(), &key, &body, patience).await {
                Some((status, answer)) => {
                    kind.note(&mut acks.lock().unwrap(), w, key, status, &answer);
                }
                None => left += 1,
            }
        }
    }
    left
}

/// POSTs `body` with `key` until the answer is final (neither none, 409 nor 5xx), every
/// 50 ms for at most `patience`.
async fn answer_finally(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
    patience: Duration,
) -> Option<(u16, Value)> {
    let give_up = Instant::now() + patience;
    loop {
        match post_keyed(app, path, key, body).await {
            Some((status, answer)) if status != 409 && status < 500 => {
                return Some((status, answer));
            }
            last if Instant::now() >= give_up => {
                eprintln!("{key} got no final answer in {patience:?}: {last:?}");
                return None;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
