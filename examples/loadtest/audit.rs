//! The audit after a run, through the public API only:
//! - nothing acknowledged is missing (every 201's method, every 200's version);
//! - registered ⇔ approved verification: each method's verification payment is approved
//!   and names it, each method has exactly `version` approved verifications (every change
//!   in these scenarios is a new number), and no approved verification is unclaimed;
//! - exactly one message per event: per method, `version` messages, no event twice;
//! - the mypage equals the aggregates (methods) and the newest 20 messages;
//! - with `--provider`: every approved, unrefunded authorization in the payment system's
//!   ledger is held by exactly one approved payment here, and vice versa.
//!
//! paytree is read with the admin key (`admin`, a client that sends it), the payment system
//! with `client`, which sends no key.

use crate::book::Book;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 16;

/// Counts and failures, merged from every customer.
#[derive(Default)]
struct Tally {
    customers: usize,
    methods: usize,
    payments: usize,
    messages: usize,
    failures: BTreeMap<&'static str, (usize, Vec<String>)>,
    /// providerReference of each approved verification payment.
    approved: Vec<String>,
}

impl Tally {
    fn fail(&mut self, check: &'static str, example: String) {
        let entry = self.failures.entry(check).or_default();
        entry.0 += 1;
        if entry.1.len() < 5 {
            entry.1.push(example);
        }
    }
}

struct Customer {
    methods: Vec<Value>,
    payments: Vec<Value>,
    messages: Vec<Value>,
    mypage: Value,
}

pub async fn run(
    admin: &reqwest::Client,
    host: &str,
    client: &reqwest::Client,
    provider: Option<&str>,
    book: Arc<Book>,
) -> Vec<String> {
    println!("\n=== Audit");
    let started = Instant::now();
    if let Err(e) = settle(admin, host).await {
        return vec![format!("audit: {e}")];
    }
    let (registered, changed, head) = book.acknowledged();
    let customers = book.customers();
    let queue = Arc::new(Mutex::new(customers.clone()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (admin, host) = (admin.clone(), host.to_owned());
        let (queue, tally) = (queue.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(customer) = queue.lock().unwrap().pop() else {
                    return;
                };
                match fetch(&admin, &host, &customer, head).await {
                    Ok(c) => check_customer(&customer, &c, &mut tally.lock().unwrap()),
                    Err(e) => tally
                        .lock()
                        .unwrap()
                        .fail("read", format!("{customer}: {e}")),
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let mut tally = std::mem::take(&mut *tally.lock().unwrap());
    check_acknowledged(admin, host, &registered, &changed, &mut tally).await;
    if let Some(provider) = provider {
        check_ledger(client, provider, &mut tally).await;
    }

    println!(
        "audited {} customers: {} methods, {} payments, {} messages; {} registrations and {} changes acknowledged ({:.1} s)",
        tally.customers,
        tally.methods,
        tally.payments,
        tally.messages,
        registered.len(),
        changed.len(),
        started.elapsed().as_secs_f64()
    );
    let checks = [
        "acknowledged-missing",
        "verification",
        "unclaimed-approval",
        "messages-per-event",
        "mypage",
        "ledger",
        "read",
    ];
    for check in checks {
        let (n, examples) = tally.failures.get(check).cloned().unwrap_or_default();
        println!(
            "  {check:<22} {}",
            if n == 0 {
                "ok".into()
            } else {
                format!("{n} FAILED")
            }
        );
        for e in examples {
            println!("      {e}");
        }
    }
    tally
        .failures
        .iter()
        .map(|(check, (n, _))| format!("audit: {check}: {n}"))
        .collect()
}

/// Waits until the notifier and the projector have applied every event.
async fn settle(client: &reqwest::Client, host: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = client
            .get(format!("{host}/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or(f64::NAN)
        };
        let lags = [
            value("paytree_notifier_lag_events"),
            value("paytree_projector_lag_events"),
        ];
        if lags.iter().all(|&l| l == 0.0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the notifier and projector lags are {lags:?} after 60 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn get(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let r = client.get(url).send().await.map_err(|e| e.to_string())?;
    if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(format!(
            "GET {url}: 429: paytree throttled the admin key; start it with \
             --rate-limit-per-key 1000000 for a load test"
        ));
    }
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

pub(crate) async fn pages(client: &reqwest::Client, url: &str) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = match after {
            None => get(client, &format!("{url}&limit=200")).await?,
            Some(a) => get(client, &format!("{url}&limit=200&after={a}")).await?,
        };
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["nextAfter"].as_u64() {
            Some(a) => after = Some(a),
            None => return Ok(items),
        }
    }
}

async fn fetch(
    client: &reqwest::Client,
    host: &str,
    customer: &str,
    head: u64,
) -> Result<Customer, String> {
    Ok(Customer {
        methods: pages(client, &format!("{host}/paymethods?customerId={customer}")).await?,
        payments: pages(client, &format!("{host}/payments?customerId={customer}")).await?,
        messages: pages(client, &format!("{host}/messages?customerId={customer}")).await?,
        mypage: get(
            client,
            &format!("{host}/mypages/{customer}?minPosition={head}"),
        )
        .await?,
    })
}

fn check_customer(customer: &str, c: &Customer, tally: &mut Tally) {
    tally.customers += 1;
    tally.methods += c.methods.len();
    tally.payments += c.payments.len();
    tally.messages += c.messages.len();
    let payments: HashMap<u64, &Value> = c
        .payments
        .iter()
        .filter_map(|p| Some((p["id"].as_u64()?, p)))
        .collect();
    let method_ids: HashSet<u64> = c.methods.iter().filter_map(|m| m["id"].as_u64()).collect();

    // Registered ⇔ approved verification.
    let is_approved_verification =
        |p: &Value| p["purpose"] == "verification" && p["status"] == "approved";
    let mut approvals: HashMap<u64, u64> = HashMap::new();
    for p in c.payments.iter().filter(|p| is_approved_verification(p)) {
        tally
            .approved
            .push(p["providerReference"].as_str().unwrap_or("").to_owned());
        match p["paymethodId"].as_u64() {
            Some(m) if method_ids.contains(&m) => *approvals.entry(m).or_default() += 1,
            _ => tally.fail("unclaimed-approval", format!("{customer}: payment {p}")),
        }
    }
    for m in &c.methods {
        let (id, version) = (
            m["id"].as_u64().unwrap_or(0),
            m["version"].as_u64().unwrap_or(0),
        );
        let verification = m["verificationPaymentId"]
            .as_u64()
            .and_then(|p| payments.get(&p));
        let verified = verification
            .is_some_and(|p| is_approved_verification(p) && p["paymethodId"].as_u64() == Some(id));
        if !verified || approvals.get(&id).copied().unwrap_or(0) != version {
            tally.fail(
                "verification",
                format!(
                    "{customer}: method {id} version {version}, {} approved verifications, its own: {verification:?}",
                    approvals.get(&id).copied().unwrap_or(0)
                ),
            );
        }
    }

    // Exactly one message per event: registration and each change, per method.
    let mut events = HashSet::new();
    let mut per_method: HashMap<u64, u64> = HashMap::new();
    for msg in &c.messages {
        if !events.insert(msg["eventId"].as_u64().unwrap_or(0)) {
            tally.fail(
                "messages-per-event",
                format!("{customer}: event twice: {msg}"),
            );
        }
        *per_method
            .entry(msg["paymethodId"].as_u64().unwrap_or(0))
            .or_default() += 1;
    }
    for m in &c.methods {
        let (id, version) = (
            m["id"].as_u64().unwrap_or(0),
            m["version"].as_u64().unwrap_or(0),
        );
        let got = per_method.remove(&id).unwrap_or(0);
        if got != version {
            tally.fail(
                "messages-per-event",
                format!("{customer}: method {id} version {version} has {got} messages"),
            );
        }
    }
    if !per_method.is_empty() {
        tally.fail(
            "messages-per-event",
            format!("{customer}: messages for no stored method: {per_method:?}"),
        );
    }

    // The mypage equals the aggregates and the newest messages.
    let mut mine = c.mypage["paymentMethods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    mine.sort_by_key(|m| m["id"].as_u64());
    let mut methods = c.methods.clone();
    methods.sort_by_key(|m| m["id"].as_u64());
    if mine != methods {
        tally.fail(
            "mypage",
            format!("{customer}: mypage methods {mine:?} != {methods:?}"),
        );
    }
    let key = |m: &Value| {
        (
            m["id"].as_u64(),
            m["eventId"].as_u64(),
            m["type"].clone(),
            m["text"].clone(),
        )
    };
    let recent: Vec<_> = c.mypage["recentMessages"]
        .as_array()
        .map(|a| a.iter().map(key).collect())
        .unwrap_or_default();
    let mut newest: Vec<_> = c.messages.iter().map(key).collect();
    newest.sort_by_key(|m| std::cmp::Reverse(m.0));
    newest.truncate(20);
    if recent != newest {
        tally.fail(
            "mypage",
            format!("{customer}: recent messages {recent:?} != newest {newest:?}"),
        );
    }
}

/// Every acknowledged registration is stored, every acknowledged change's version reached.
async fn check_acknowledged(
    client: &reqwest::Client,
    host: &str,
    registered: &[u64],
    changed: &[(u64, u64)],
    tally: &mut Tally,
) {
    let mut wanted: BTreeMap<u64, u64> = registered.iter().map(|&id| (id, 1)).collect();
    for &(id, version) in changed {
        let v = wanted.entry(id).or_insert(0);
        *v = (*v).max(version);
    }
    let ids: Vec<(u64, u64)> = wanted.into_iter().collect();
    let queue = Arc::new(Mutex::new(ids));
    let missing = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (client, host) = (client.clone(), host.to_owned());
        let (queue, missing) = (queue.clone(), missing.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some((id, version)) = queue.lock().unwrap().pop() else {
                    return;
                };
                let stored = get(&client, &format!("{host}/paymethods/{id}")).await;
                match stored {
                    Ok(m) if m["version"].as_u64().unwrap_or(0) >= version => {}
                    other => missing
                        .lock()
                        .unwrap()
                        .push(format!("method {id} version {version}: {other:?}")),
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    for m in std::mem::take(&mut *missing.lock().unwrap()) {
        tally.fail("acknowledged-missing", m);
    }
}

/// The payment system's own record against ours.
async fn check_ledger(client: &reqwest::Client, provider: &str, tally: &mut Tally) {
    let ledger = match get(client, &format!("{provider}/v1/ledger")).await {
        Ok(l) => l,
        Err(e) => return tally.fail("ledger", e),
    };
    let live: HashSet<String> = ledger["authorizations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["status"] == "approved" && e["refunded"] == false)
                .filter_map(|e| Some(e["id"].as_str()?.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut held: HashMap<&str, usize> = HashMap::new();
    for reference in &tally.approved {
        *held.entry(reference.as_str()).or_default() += 1;
    }
    let mut problems = Vec::new();
    for auth in &live {
        match held.get(auth.as_str()) {
            Some(1) => {}
            n => problems.push(format!("authorization {auth} held by {n:?} payments")),
        }
    }
    for reference in held.keys() {
        if !live.contains(*reference) {
            problems.push(format!(
                "payment holds {reference}, not a live authorization"
            ));
        }
    }
    for p in problems {
        tally.fail("ledger", p);
    }
}
