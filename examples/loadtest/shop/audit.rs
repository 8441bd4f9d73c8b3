//! The `shop` scenario's audit, after the load has stopped, through the public API and the
//! payment system's ledger:
//!
//! 1. wait (at most [`SETTLE`], a progress line a second) until `paytree_shipping_lag_events`
//!    and `paytree_saga_lag_events` are 0, `paytree_saga_pending` is 0 for every step, and no
//!    order of the run is `cancelling`;
//! 2. read every customer's orders, payments and messages, every shipment, and the ledger;
//! 3. wait (at most [`MESSAGES_WAIT`]) until every inbox is as its orders say, for messages
//!    are delivered asynchronously;
//! 4. run the checks of `checks.rs` and print each with its count of violations.
//!
//! It also times each cancellation with the server's own timestamps: from
//! `cancellation.requestedAt` to the order's `updatedAt`, which is set when it became
//! `cancelled` (or `shipped`, its cancellation refused) and by nothing after.

use super::checks::{self, CHECKS, Customer, Read, Tally};
use super::till;
use crate::audit::{get, pages};
use crate::book::Book;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest wait for paytree to settle.
const SETTLE: Duration = Duration::from_secs(60);
/// The longest wait for the inboxes.
const MESSAGES_WAIT: Duration = Duration::from_secs(30);

/// Each cancellation's time from its request to its end, by the server's timestamps.
#[derive(Default)]
pub struct Figures {
    /// Cancelled orders: `requestedAt` → `updatedAt`.
    pub refunded: Vec<Duration>,
    /// Shipped orders whose cancellation was refused: `requestedAt` → `updatedAt`.
    pub refused: Vec<Duration>,
}

/// Audits the run; the failures (empty if it passed) and the cancellations' times.
pub async fn run(
    admin: &reqwest::Client,
    host: &str,
    client: &reqwest::Client,
    provider: &str,
    book: &Book,
) -> (Vec<String>, Figures) {
    println!("\n=== Audit (shop)");
    let started = Instant::now();
    let names = book.customers();
    let mut tally = Tally::default();
    if let Err(e) = settle(admin, host, &names).await {
        tally.fail("settled", e);
    }
    let mut read = match read_all(admin, host, client, provider, &names).await {
        Ok(read) => read,
        Err(e) => return (vec![format!("audit: read: {e}")], Figures::default()),
    };
    if let Err(e) = wait_for_messages(admin, host, &mut read).await {
        tally.fail("read", e);
    }
    for c in &read.customers {
        tally.counts.messages += c.messages.len();
        for problem in checks::messages(c) {
            tally.fail("messages", problem);
        }
    }
    let till = till();
    if till.placed.is_empty() {
        tally.fail(
            "acknowledged",
            "no order was answered 201: there is nothing to audit".to_owned(),
        );
    }
    checks::all(&read, &till, &mut tally);
    print(&tally, &till, started.elapsed());
    drop(till);
    let failures = tally
        .failures
        .iter()
        .map(|(check, (n, _))| format!("audit: {check}: {n}"))
        .collect();
    (failures, figures(&read))
}

fn print(tally: &Tally, till: &super::Till, took: Duration) {
    let c = &tally.counts;
    let answered = |code: u16| till.cancels.values().filter(|&&s| s == code).count();
    let shipped_answers = till.ships.values().filter(|&&s| s == 200).count();
    println!(
        "read back in {:.1} s: {} orders, {} shipments, {} messages",
        took.as_secs_f64(),
        c.orders,
        c.shipments.values().sum::<usize>(),
        c.messages
    );
    println!(
        "orders placed (201)            {} ({} found in paytree)",
        till.placed.len(),
        c.orders
    );
    println!(
        "orders declined (402)          {} ({} declined charge records)",
        till.declined, c.declined_charges
    );
    println!(
        "orders never answered 201/402  {} (503s or lost answers after every attempt, or a 4xx)",
        till.unplaced
    );
    println!(
        "cancels asked                  {} (202: {}, 200: {}, 409 order-already-shipped: {})",
        till.cancels.len(),
        answered(202),
        answered(200),
        answered(409)
    );
    println!("orders cancelled (refunded)    {}", c.cancelled);
    println!("cancellations refused          {}", c.refused);
    println!(
        "orders shipped                 {} (of which {} after a refused cancellation)",
        c.shipped, c.refused
    );
    println!("orders still placed (pending)  {}", c.placed);
    println!(
        "ships answered                 200: {}, 409 shipment-cancelled: {}",
        shipped_answers,
        till.ships.len() - shipped_answers
    );
    println!("shipments by status            {:?}", c.shipments);
    println!(
        "payments                       {} approved charges and {} refunds with an orderId; {} approvals no order claimed, {} refunds of them",
        c.charges, c.refunds, c.unclaimed_charges, c.unclaimed_refunds
    );
    println!(
        "ledger-sum: Σ(approved charges with an orderId) − Σ(refunds with an orderId) in paytree = {} KRW",
        c.paytree_net
    );
    println!(
        "            Σ(approved authorizations with amount > 0) − Σ(their refundedAmount) in the ledger = {} − {} = {} KRW",
        c.ledger_approved,
        c.ledger_refunded,
        c.ledger_approved - c.ledger_refunded
    );
    for (check, what) in CHECKS {
        let (n, examples) = tally.failures.get(check).cloned().unwrap_or_default();
        let verdict = if n == 0 {
            "ok".to_owned()
        } else {
            format!("{n} FAILED")
        };
        println!("  {check:<24} {verdict:<10} {what}");
        for e in examples {
            println!("      {e}");
        }
    }
}

/// Waits until shipping and the saga have caught up and no order is `cancelling`.
async fn settle(admin: &reqwest::Client, host: &str, names: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let mut shown = started;
    loop {
        let metrics = admin
            .get(format!("{host}/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let shipping = value(&metrics, "paytree_shipping_lag_events");
        let saga = value(&metrics, "paytree_saga_lag_events");
        let pending = labelled(&metrics, "paytree_saga_pending");
        let caught_up = shipping == Some(0.0)
            && saga == Some(0.0)
            && !pending.is_empty()
            && pending.iter().all(|(_, v)| *v == 0.0);
        let cancelling = if caught_up {
            Some(cancelling(admin, host, names).await?)
        } else {
            None
        };
        let show = |v: Option<f64>| v.map_or_else(|| "missing".to_owned(), |v| v.to_string());
        let mut steps: Vec<String> = pending
            .iter()
            .map(|(labels, v)| format!("{}={v}", labels.replace('"', "")))
            .collect();
        steps.sort();
        let line = format!(
            "shipping lag {}, saga lag {}, saga pending [{}], orders cancelling {}",
            show(shipping),
            show(saga),
            steps.join(" "),
            cancelling.map_or_else(|| "not read yet".to_owned(), |n| n.to_string())
        );
        if cancelling == Some(0) {
            println!(
                "settled after {:.1} s: {line}",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > SETTLE {
            return Err(format!("not settled after {} s: {line}", SETTLE.as_secs()));
        }
        if shown.elapsed() >= Duration::from_secs(1) || shown == started {
            println!(
                "settling ({:.1} s): {line}",
                started.elapsed().as_secs_f64()
            );
            shown = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An unlabelled metric's value.
fn value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A labelled metric's values: (labels, value) per series.
fn labelled(metrics: &str, name: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter_map(|l| {
            let (labels, value) = l.strip_prefix(name)?.strip_prefix('{')?.split_once("} ")?;
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

async fn cancelling(
    admin: &reqwest::Client,
    host: &str,
    names: &[String],
) -> Result<usize, String> {
    let mut n = 0;
    for name in names {
        let orders = pages(admin, &format!("{host}/orders?customerId={name}")).await?;
        n += orders
            .iter()
            .filter(|o| o["status"] == "cancelling")
            .count();
    }
    Ok(n)
}

async fn read_all(
    admin: &reqwest::Client,
    host: &str,
    client: &reqwest::Client,
    provider: &str,
    names: &[String],
) -> Result<Read, String> {
    let mut tasks = Vec::new();
    for name in names {
        let (admin, host, name) = (admin.clone(), host.to_owned(), name.clone());
        tasks.push(tokio::spawn(async move {
            let q = format!("customerId={name}");
            Ok::<_, String>(Customer {
                orders: pages(&admin, &format!("{host}/orders?{q}")).await?,
                payments: pages(&admin, &format!("{host}/payments?{q}")).await?,
                messages: pages(&admin, &format!("{host}/messages?{q}")).await?,
                name,
            })
        }));
    }
    let mut customers = Vec::new();
    for task in tasks {
        customers.push(task.await.map_err(|e| e.to_string())??);
    }
    let ours: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut shipments = Vec::new();
    for status in ["pending", "shipped", "cancelled"] {
        let listed = pages(admin, &format!("{host}/shipments?status={status}")).await?;
        shipments.extend(
            listed
                .into_iter()
                .filter(|s| ours.contains(s["customerId"].as_str().unwrap_or(""))),
        );
    }
    let ledger = get(client, &format!("{provider}/v1/ledger")).await?;
    Ok(Read {
        customers,
        shipments,
        ledger,
    })
}

/// Reads again the messages of every customer whose inbox is not yet as its orders say,
/// until none is or [`MESSAGES_WAIT`] has passed (the check then reports what is missing).
async fn wait_for_messages(
    admin: &reqwest::Client,
    host: &str,
    read: &mut Read,
) -> Result<(), String> {
    let started = Instant::now();
    let mut shown = None::<Instant>;
    loop {
        let behind: Vec<usize> = (0..read.customers.len())
            .filter(|&i| !checks::messages(&read.customers[i]).is_empty())
            .collect();
        if behind.is_empty() || started.elapsed() > MESSAGES_WAIT {
            return Ok(());
        }
        if shown.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            println!(
                "waiting for messages ({:.1} s): {} inboxes not as their orders say yet",
                started.elapsed().as_secs_f64(),
                behind.len()
            );
            shown = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for i in behind {
            let c = &mut read.customers[i];
            c.messages = pages(admin, &format!("{host}/messages?customerId={}", c.name)).await?;
        }
    }
}

fn figures(read: &Read) -> Figures {
    let at = |v: &Value| OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok();
    let mut figures = Figures::default();
    for o in read.customers.iter().flat_map(|c| &c.orders) {
        let (Some(asked), Some(ended)) =
            (at(&o["cancellation"]["requestedAt"]), at(&o["updatedAt"]))
        else {
            continue;
        };
        let took = Duration::try_from(ended - asked).unwrap_or(Duration::ZERO);
        match (o["status"].as_str(), o["cancellation"]["outcome"].as_str()) {
            (Some("cancelled"), _) => figures.refunded.push(took),
            (Some("shipped"), Some("refused-shipped")) => figures.refused.push(took),
            _ => {}
        }
    }
    figures
}
