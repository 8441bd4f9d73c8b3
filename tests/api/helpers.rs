//! `spawn_app()` and `spawn_provider()`: start the binary, learn its address from the line it
//! prints, and give one method per endpoint. Dropping a handle kills its process.

use reqwest::{Client, Response};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const VISA: &str = "4242 4242 4242 4242";
pub const DECLINED: &str = "4000000000000002";
pub const MASTERCARD: &str = "5555555555554444";
pub const BANK: &str = "110-123-456789";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    _temp: Option<TempDir>,
}

/// A running `paytree serve` with a fresh data dir and the embedded payment system.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A running `paytree serve` with extra flags.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    let temp = TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, flags).await;
    app._temp = Some(temp);
    app
}

/// Starts `paytree serve` on `dir` (which may hold data from an earlier run).
pub async fn start_serve(dir: &Path, flags: &[&str]) -> TestApp {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.with_extension(format!("log{}", rand_suffix()));
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    let (child, address) = start(&args, &log).await;
    TestApp {
        address,
        client: Client::new(),
        dir: dir.to_owned(),
        child: Some(child),
        log,
        _temp: None,
    }
}

fn rand_suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn start(args: &[&str], log: &Path) -> (Child, String) {
    let log_file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paytree"))
        .args(args)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .expect("starting paytree");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("paytree announced its address in time")
        .unwrap()
        .expect("paytree printed a line");
    let address = line.rsplit(' ').next().unwrap().to_owned();
    assert!(address.starts_with("http://127.0.0.1:"), "{line}");
    (child, address)
}

impl TestApp {
    /// A second handle on the same server (for concurrent clients); it does not own the process.
    pub fn handle(app: &TestApp) -> TestApp {
        TestApp {
            address: app.address.clone(),
            client: app.client.clone(),
            dir: app.dir.clone(),
            child: None,
            log: app.log.clone(),
            _temp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn register(&self, customer: &str, kind: &str, number: &str) -> Response {
        self.post_json(
            "/paymethods",
            &json!({"customerId": customer, "kind": kind, "number": number}),
        )
        .await
    }

    pub async fn register_ok(&self, customer: &str, number: &str) -> Value {
        let r = self.register(customer, "card", number).await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn patch(&self, id: u64, body: &Value, if_match: Option<&str>) -> Response {
        let mut req = self
            .client
            .patch(self.url(&format!("/paymethods/{id}")))
            .json(body);
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        req.send().await.unwrap()
    }

    pub async fn delete(&self, id: u64) -> Response {
        self.client
            .delete(self.url(&format!("/paymethods/{id}")))
            .send()
            .await
            .unwrap()
    }

    /// The stored version of payment method `id`.
    pub async fn version(&self, id: u64) -> u64 {
        let m: Value = self
            .get(&format!("/paymethods/{id}"))
            .await
            .json()
            .await
            .unwrap();
        m["version"].as_u64().unwrap()
    }

    pub async fn list(&self, customer: &str) -> Value {
        let r = self
            .get(&format!("/paymethods?customerId={customer}&limit=200"))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn payments_of(&self, customer: &str) -> Value {
        let r = self
            .get(&format!("/payments?customerId={customer}&limit=200"))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// A customer's mypage; with `min`, read-your-writes from that position.
    pub async fn mypage(&self, customer: &str, min: Option<u64>) -> Value {
        let path = match min {
            Some(p) => format!("/mypages/{customer}?minPosition={p}"),
            None => format!("/mypages/{customer}"),
        };
        let r = self.get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// All of a customer's messages, by id.
    pub async fn messages(&self, customer: &str) -> Vec<Value> {
        self.all_items(&format!("/messages?customerId={customer}"))
            .await
    }

    /// Every item of a paged listing, following `nextAfter`.
    pub async fn all_items(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page: Value = self
                .get(&format!("{path}{sep}limit=200&after={after}"))
                .await
                .json()
                .await
                .unwrap();
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["nextAfter"].as_u64() {
                Some(next) => after = next,
                None => return items,
            }
        }
    }

    /// `kill -9`: no drain, no shutdown, whatever was in flight is cut off.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let pid = child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A running `paytree provider`.
pub struct TestProvider {
    pub address: String,
    child: Child,
    _log: TempDir,
}

pub async fn spawn_provider() -> TestProvider {
    let temp = TempDir::new().unwrap();
    let (child, address) = start(
        &["provider", "--listen", "127.0.0.1:0"],
        &temp.path().join("provider.log"),
    )
    .await;
    TestProvider {
        address,
        child,
        _log: temp,
    }
}

impl TestProvider {
    pub async fn set_faults(&self, faults: Value) {
        let r = Client::new()
            .put(format!("{}/v1/faults", self.address))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    pub async fn ledger(&self) -> Value {
        self.get("/v1/ledger").await
    }

    /// `{"authorizationCalls", "lookupCalls", "refundCalls"}`: the calls that reached it.
    pub async fn stats(&self) -> Value {
        self.get("/v1/stats").await
    }

    async fn get(&self, path: &str) -> Value {
        Client::new()
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// The value of one series in `/metrics` (`name` with its labels as rendered), or 0.
pub async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// `POST /paymethods` with an `Idempotency-Key`.
pub async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/paymethods"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
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
