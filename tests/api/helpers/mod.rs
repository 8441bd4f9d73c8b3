//! How a test gets a paytree and talks to it. `spawn_app()` builds one in this process on
//! 127.0.0.1:0 with a temp data dir; `spawn_process()` and `start_serve()` run the binary, for
//! tests that need a process of their own (kill -9, SIGTERM, restarts, its log, metrics read as
//! absolute values: the metrics recorder is global to a process, so apps in this one share
//! it). `spawn_provider()` runs the simulated payment system in this process. [`TestApp`] has
//! one method per route. `test_certs()` makes a CA and a certificate for HTTPS.
//! `cluster::Cluster` runs replica processes on PostgreSQL and NATS JetStream (kill -9 of a
//! replica), their requests spread by a `balancer::Balancer`.

mod app;
pub mod audit;
pub mod balancer;
mod certs;
pub mod cluster;
mod load;
mod process;
mod provider;
mod raw;
pub mod replicas;
mod shop;
pub mod workload;

pub use app::*;
pub use certs::*;
pub use load::*;
pub use process::*;
pub use provider::*;
pub use raw::*;
pub use shop::*;

use reqwest::Response;
use serde_json::Value;
use std::time::Duration;

pub const VISA: &str = "4242 4242 4242 4242";
pub const DECLINED: &str = "4000000000000002";
pub const MASTERCARD: &str = "5555555555554444";
pub const BANK: &str = "110-123-456789";

/// Short reads of the JSON the API answers.
pub trait Json {
    /// The `id` of a representation.
    fn id(&self) -> u64;
    /// The `items` of a page.
    fn items(&self) -> &Vec<Value>;
}

impl Json for Value {
    fn id(&self) -> u64 {
        self["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no id in {self}"))
    }

    fn items(&self) -> &Vec<Value> {
        self["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {self}"))
    }
}

/// The value of one series in `/metrics` (`name` with its labels as rendered), or 0. Only
/// meaningful against a process of its own ([`spawn_process`]).
pub async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// The `Paytree-Position` of a command's response.
pub fn position(r: &Response) -> u64 {
    r.headers()["paytree-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The `Retry-After` seconds of a response.
pub fn retry_after(r: &Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Messages are created asynchronously: waits (at most 10 s) until `customer` has `n`.
pub async fn wait_for_messages(app: &TestApp, customer: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let items = app.messages(customer).await;
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{customer} did not get {n} messages in time");
}

/// Asserts a problem response: status, content type and slug.
pub async fn assert_problem(r: Response, status: u16, slug: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status);
    body
}

/// The fields a 422 problem names, in its order.
pub fn failed_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}
