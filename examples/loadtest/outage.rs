//! The `outage` scenario's driver and monitor: takes the payment system down and back up, and
//! watches the breaker and the payment system's call count every 100 ms.
//!
//! Each look reads the breaker, then the payment system's call count, then the breaker
//! again. When the first read of one look and the last read of a later look both see the
//! breaker open with the same `openings` count, it was open the whole time in between, and
//! the call count (read within that span) must not have moved.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
struct Breaker {
    state: String,
    openings: u64,
}

#[derive(Debug)]
struct Look {
    at: Instant,
    before: Breaker,
    calls: u64,
    after: Breaker,
}

pub struct Monitor {
    stop: Arc<AtomicBool>,
    looks: JoinHandle<Vec<Look>>,
    driver: JoinHandle<Result<(Instant, Instant), String>>,
}

pub struct OutageOutcome {
    pub down_for: Duration,
    /// Time covered by pairs of looks that saw one open period.
    pub open_covered: Duration,
    pub calls_while_open: u64,
    pub openings: u64,
    pub final_state: String,
    pub failures: Vec<String>,
}

/// `client` calls the payment system, `admin` paytree (with the admin key).
pub fn start(
    client: reqwest::Client,
    admin: reqwest::Client,
    host: String,
    provider: String,
    at: Duration,
    lasting: Duration,
) -> Monitor {
    let stop = Arc::new(AtomicBool::new(false));
    let looks = tokio::spawn(watch(
        client.clone(),
        admin,
        host,
        provider.clone(),
        stop.clone(),
    ));
    let driver = tokio::spawn(async move {
        tokio::time::sleep(at).await;
        faults(&client, &provider, json!({"down": true})).await?;
        let down = Instant::now();
        tokio::time::sleep(lasting).await;
        faults(&client, &provider, json!({})).await?;
        Ok((down, Instant::now()))
    });
    Monitor {
        stop,
        looks,
        driver,
    }
}

async fn faults(client: &reqwest::Client, provider: &str, body: Value) -> Result<(), String> {
    let url = format!("{provider}/v1/faults");
    match client.put(&url).json(&body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("PUT {url} answered {}", r.status())),
        Err(e) => Err(format!("PUT {url}: {e}")),
    }
}

async fn watch(
    client: reqwest::Client,
    admin: reqwest::Client,
    host: String,
    provider: String,
    stop: Arc<AtomicBool>,
) -> Vec<Look> {
    let mut looks = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        if let Some(look) = look(&client, &admin, &host, &provider).await {
            looks.push(look);
        }
        tokio::time::sleep(EVERY).await;
    }
    looks
}

async fn look(
    client: &reqwest::Client,
    admin: &reqwest::Client,
    host: &str,
    provider: &str,
) -> Option<Look> {
    let at = Instant::now();
    let before = breaker(admin, host).await?;
    let stats = get_json(client, &format!("{provider}/v1/stats")).await?;
    let after = breaker(admin, host).await?;
    Some(Look {
        at,
        before,
        calls: stats["authorizationCalls"].as_u64()?,
        after,
    })
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

async fn breaker(admin: &reqwest::Client, host: &str) -> Option<Breaker> {
    let v = get_json(admin, &format!("{host}/admin/breaker")).await?;
    Some(Breaker {
        state: v["state"].as_str()?.to_owned(),
        openings: v["openings"].as_u64()?,
    })
}

impl Monitor {
    /// Stops the looks (after the load) and judges them.
    pub async fn finish(self) -> OutageOutcome {
        let mut failures = Vec::new();
        let down_for = match self.driver.await {
            Ok(Ok((down, up))) => up - down,
            Ok(Err(e)) => {
                failures.push(format!("outage: {e}"));
                Duration::ZERO
            }
            Err(_) => {
                failures.push("outage: the run ended before the payment system came back".into());
                Duration::ZERO
            }
        };
        self.stop.store(true, Ordering::SeqCst);
        let looks = self.looks.await.unwrap_or_default();
        let open = |b: &Breaker| b.state == "open";
        let (mut covered, mut calls_while_open) = (Duration::ZERO, 0);
        for pair in looks.windows(2) {
            let (first, next) = (&pair[0], &pair[1]);
            if open(&first.before)
                && open(&next.after)
                && first.before.openings == next.after.openings
            {
                covered += next.at - first.at;
                calls_while_open += next.calls.saturating_sub(first.calls);
            }
        }
        let openings = looks.last().map_or(0, |l| l.after.openings);
        let final_state = looks
            .last()
            .map_or_else(|| "unknown".to_owned(), |l| l.after.state.clone());
        if covered.is_zero() {
            failures.push("outage: the breaker was never seen open".into());
        }
        if calls_while_open > 0 {
            failures.push(format!(
                "outage: {calls_while_open} calls reached the payment system while the breaker was open"
            ));
        }
        if final_state != "closed" {
            failures.push(format!(
                "outage: the breaker is {final_state} at the end; run longer than \
                 --outage-at + --outage-for + paytree's --breaker-open-ms + a few seconds"
            ));
        }
        OutageOutcome {
            down_for,
            open_covered: covered,
            calls_while_open,
            openings,
            final_state,
            failures,
        }
    }
}
