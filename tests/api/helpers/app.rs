//! `TestApp`: one running paytree, in this process or a child process, with one method per
//! route. `spawn_app()` builds it in this process, as `paytree serve` would with the same flags.

use super::balancer::{Balancer, Outcome};
use clap::Parser;
use paytree::app::ServeArgs;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running paytree. Clones are further handles on the same server (for concurrent
/// clients); an in-process server shuts down when its last handle is dropped. Its client
/// sends the admin key paytree made at its first start (`<data-dir>/admin.key`), unless
/// [`TestApp::with_key`] or [`TestApp::anonymous`] made it another.
#[derive(Clone)]
pub struct TestApp {
    /// The server's address (the first replica's, with replicas).
    pub address: String,
    /// With replicas (see [`super::replicas`]): every replica's address; requests go to each
    /// in turn.
    balancer: Arc<Balancer>,
    pub client: Client,
    pub dir: PathBuf,
    /// The key the client sends, if any.
    pub key: Option<String>,
    _server: Option<Arc<InProcess>>,
}

/// What keeps in-process servers: their shutdown signals and their data dir.
struct InProcess {
    shutdown: Vec<oneshot::Sender<()>>,
    _temp: TempDir,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        for shutdown in self.shutdown.drain(..) {
            let _ = shutdown.send(());
        }
    }
}

/// paytree in this process with a fresh data dir and the embedded payment system.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// paytree in this process with `paytree serve` flags; with `PAYTREE_TEST_REPLICAS` (and a
/// PostgreSQL and a NATS server), that many replicas on a fresh database (see
/// [`super::replicas`]).
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    if let Some(shared) = super::replicas::shared().await {
        return spawn_replicas(flags, &shared).await;
    }
    let (app, temp) = build_app(flags).await;
    let (address, shutdown) = serve(app).await;
    in_process(temp, vec![address], vec![shutdown])
}

/// `shared.replicas` replicas of paytree in this process, on one database, one stream and
/// one data dir (so one secret and one admin key), started one after the other.
pub async fn spawn_replicas(flags: &[&str], shared: &super::replicas::Shared) -> TestApp {
    log_if_asked();
    let temp = TempDir::new().unwrap();
    let mut flags = flags.to_vec();
    flags.extend(["--store", &shared.store, "--events", &shared.events]);
    let (mut addresses, mut shutdowns) = (Vec::new(), Vec::new());
    for _ in 0..shared.replicas {
        let settings = serve_args(&temp.path().join("data"), &flags)
            .settings()
            .unwrap();
        let app = paytree::app::build(settings)
            .await
            .expect("a replica builds");
        let (address, shutdown) = serve(app).await;
        addresses.push(address);
        shutdowns.push(shutdown);
    }
    in_process(temp, addresses, shutdowns)
}

/// With `PAYTREE_TEST_LOG` (a filter such as `paytree=debug`), what the in-process servers log
/// goes to stderr (`--nocapture` shows it).
fn log_if_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Ok(filter) = std::env::var("PAYTREE_TEST_LOG") {
        ONCE.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .try_init();
        });
    }
}

/// Serves `app` on a port of its own until the sender is used or dropped.
async fn serve(app: paytree::app::App) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("{}://{}", app.scheme(), listener.local_addr().unwrap());
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async {
            let _ = stop.await;
        };
        app.run(listener, stopped).await.expect("paytree serves");
    });
    (address, shutdown)
}

/// A handle on servers run in this process from the data dir in `temp`.
fn in_process(
    temp: TempDir,
    addresses: Vec<String>,
    shutdown: Vec<oneshot::Sender<()>>,
) -> TestApp {
    let dir = temp.path().join("data");
    let key = admin_key(&dir);
    TestApp {
        address: addresses[0].clone(),
        balancer: Arc::new(Balancer::new(addresses, false)),
        client: client_with(key.as_deref()),
        key,
        dir,
        _server: Some(Arc::new(InProcess {
            shutdown,
            _temp: temp,
        })),
    }
}

/// paytree built in this process (tree running, not serving) on a fresh data dir, which
/// lives as long as the `TempDir`.
pub async fn build_app(flags: &[&str]) -> (paytree::app::App, TempDir) {
    let temp = TempDir::new().unwrap();
    let settings = serve_args(&temp.path().join("data"), flags)
        .settings()
        .unwrap();
    let app = paytree::app::build(settings).await.expect("paytree builds");
    (app, temp)
}

/// `paytree serve` flags on `dir` and port 0, parsed as the binary parses them.
fn serve_args(dir: &Path, flags: &[&str]) -> ServeArgs {
    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }
    let dir = dir.to_str().unwrap();
    let mut argv = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", dir];
    argv.extend_from_slice(&without_limits(flags));
    Serve::try_parse_from(argv).unwrap().args
}

/// `flags`, with the per-key and failed-authentication limits turned off unless they name
/// them: most tests send more than 100 requests a second with one key, or fail to
/// authenticate on purpose more than 20 times a minute.
pub fn without_limits<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut all = flags.to_vec();
    for (flag, off) in [
        ("--rate-limit-per-key", "0"),
        ("--auth-failures-per-minute", "0"),
    ] {
        if !flags.contains(&flag) {
            all.extend([flag, off]);
        }
    }
    all
}

/// A 5xx's problem type (which tells the payment system's 503 from the store's), and the
/// response made again for its caller.
async fn read_problem(r: Response) -> (Response, Option<String>) {
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.bytes().await.unwrap_or_default();
    let problem: Option<Value> = serde_json::from_slice(&body).ok();
    let problem = problem.and_then(|p| p["type"].as_str().map(str::to_owned));
    let mut again = axum::http::Response::new(body);
    *again.status_mut() = status;
    *again.headers_mut() = headers;
    (Response::from(again), problem)
}

/// The admin key paytree wrote in `dir` at its first start, if it did.
pub fn admin_key(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("admin.key"))
        .ok()
        .map(|k| k.trim().to_owned())
}

/// A client that sends `key` as `Authorization: Bearer` on every request.
fn client_with(key: Option<&str>) -> Client {
    Client::builder()
        .default_headers(auth_headers(key))
        .build()
        .unwrap()
}

/// `Authorization: Bearer <key>`, if there is a key.
pub(super) fn auth_headers(key: Option<&str>) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        let value = format!("Bearer {key}").parse().unwrap();
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    headers
}

impl TestApp {
    /// A handle on a server this test does not own (a child process).
    pub(super) fn remote(address: String, dir: PathBuf) -> TestApp {
        let key = admin_key(&dir);
        TestApp {
            address,
            balancer: Arc::default(),
            client: client_with(key.as_deref()),
            key,
            dir,
            _server: None,
        }
    }

    /// A handle on replicas this test does not own (child processes), that notes every
    /// request sent through [`TestApp::send`].
    pub(super) fn remote_replicas(addresses: Vec<String>, dir: PathBuf) -> TestApp {
        TestApp {
            balancer: Arc::new(Balancer::new(addresses.clone(), true)),
            ..TestApp::remote(addresses[0].clone(), dir)
        }
    }

    /// Replica `i` serves at `address` from now on (it was started again).
    pub fn replace_replica(&self, i: usize, address: String) {
        self.balancer.replace(i, address);
    }

    /// The requests noted so far (by a handle from [`TestApp::remote_replicas`]).
    pub fn requests(&self) -> Vec<super::balancer::Sent> {
        self.balancer.log()
    }

    /// Another handle on the same server whose client sends `key`.
    pub fn with_key(&self, key: &str) -> TestApp {
        TestApp {
            client: client_with(Some(key)),
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// Another handle on the same server whose client sends no key.
    pub fn anonymous(&self) -> TestApp {
        TestApp {
            client: client_with(None),
            key: None,
            ..self.clone()
        }
    }

    /// `POST /admin/keys` with this handle's key, which must answer 201; the new key.
    pub async fn make_key(&self, body: &Value) -> Value {
        let r = self.post_json("/admin/keys", body).await;
        assert_eq!(r.status(), 201, "POST /admin/keys {body}");
        r.json().await.unwrap()
    }

    /// A handle whose client sends a new key of `role` (for `customer`, bound to `customer`).
    pub async fn as_role(&self, role: &str, customer: Option<&str>) -> TestApp {
        let made = self
            .make_key(&json!({"role": role, "customerId": customer, "name": "test"}))
            .await;
        self.with_key(made["key"].as_str().unwrap())
    }

    /// A handle whose requests all go to the first replica (the same as this handle without
    /// replicas): for what each replica does by itself (rate limits, a command's queue, a
    /// key's last use in memory).
    pub fn one_replica(&self) -> TestApp {
        TestApp {
            balancer: Arc::default(),
            ..self.clone()
        }
    }

    /// A handle whose requests all go to replica `i` (counted from 0).
    pub fn replica(&self, i: usize) -> TestApp {
        TestApp {
            address: self.balancer.address(i),
            balancer: Arc::default(),
            ..self.clone()
        }
    }

    /// A second handle on the same server (for concurrent clients).
    pub fn handle(app: &TestApp) -> TestApp {
        app.clone()
    }

    pub fn url(&self, path: &str) -> String {
        let base = self.balancer.pick();
        format!("{}{}", base.as_deref().unwrap_or(&self.address), path)
    }

    /// Whether requests are spread over replicas (so a failed one can go to another).
    pub fn balanced(&self) -> bool {
        self.balancer.spreads()
    }

    /// Sends `request` (made on [`TestApp::url`]). With replicas, one it could not reach is
    /// passed over by the requests after it, and a balancer that keeps a log notes it.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<Response> {
        let request = request.build()?;
        let (url, write) = (
            request.url().clone(),
            request.method() != reqwest::Method::GET,
        );
        let key = request
            .headers()
            .get("idempotency-key")
            .and_then(|k| k.to_str().ok())
            .map(str::to_owned);
        let (answer, problem) = match self.client.execute(request).await {
            Ok(r) if r.status().is_server_error() => {
                let (again, problem) = read_problem(r).await;
                (Ok(again), problem)
            }
            answer => (answer, None),
        };
        let outcome = match &answer {
            Ok(r) => Outcome::Status(r.status().as_u16()),
            Err(e) if e.is_connect() => Outcome::Refused,
            Err(_) => Outcome::Cut,
        };
        self.balancer.note(&url, write, key, outcome, problem);
        answer
    }

    /// `GET path`; behind a balancer, sent again to another replica if the one it went to is
    /// gone (a GET changes nothing).
    pub async fn get(&self, path: &str) -> Response {
        let mut tries = 0;
        loop {
            match self.send(self.client.get(self.url(path))).await {
                Ok(r) => return r,
                Err(e) if !self.balanced() || tries > 3 => panic!("GET {path}: {e}"),
                Err(_) => tries += 1,
            }
        }
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

    /// `POST /paymethods`.
    pub async fn register(&self, customer: &str, kind: &str, number: &str) -> Response {
        self.post_json(
            "/paymethods",
            &json!({"customerId": customer, "kind": kind, "number": number}),
        )
        .await
    }

    /// `POST /paymethods` for a card, which must answer 201; the method.
    pub async fn register_ok(&self, customer: &str, number: &str) -> Value {
        let r = self.register(customer, "card", number).await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    /// `POST /paymethods` with an `Idempotency-Key`.
    pub async fn register_with_key(&self, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/paymethods"))
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /paymethods/{id}`.
    pub async fn get_paymethod(&self, id: u64) -> Response {
        self.get(&format!("/paymethods/{id}")).await
    }

    /// `GET /paymethods/{id}`, which must answer 200; the method.
    pub async fn paymethod(&self, id: u64) -> Value {
        let r = self.get_paymethod(id).await;
        assert_eq!(r.status(), 200, "GET /paymethods/{id}");
        r.json().await.unwrap()
    }

    /// The stored version of payment method `id`.
    pub async fn version(&self, id: u64) -> u64 {
        self.paymethod(id).await["version"].as_u64().unwrap()
    }

    /// `GET /paymethods?customerId=…&limit=200`, which must answer 200.
    pub async fn list(&self, customer: &str) -> Value {
        self.ok_json(&format!("/paymethods?customerId={customer}&limit=200"))
            .await
    }

    /// `PATCH /paymethods/{id}`, with `If-Match` if given.
    pub async fn change(&self, id: u64, body: &Value, if_match: Option<&str>) -> Response {
        let mut req = self
            .client
            .patch(self.url(&format!("/paymethods/{id}")))
            .json(body);
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        req.send().await.unwrap()
    }

    /// `DELETE /paymethods/{id}`, with `If-Match` if given.
    pub async fn remove(&self, id: u64, if_match: Option<&str>) -> Response {
        let mut req = self.client.delete(self.url(&format!("/paymethods/{id}")));
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        req.send().await.unwrap()
    }

    /// `GET /payments/{id}`.
    pub async fn payment(&self, id: &Value) -> Response {
        self.get(&format!("/payments/{id}")).await
    }

    /// `GET /payments?customerId=…&limit=200`, which must answer 200.
    pub async fn payments_of(&self, customer: &str) -> Value {
        self.ok_json(&format!("/payments?customerId={customer}&limit=200"))
            .await
    }

    /// `GET /payments?paymethodId=…`, which must answer 200.
    pub async fn payments_of_method(&self, id: u64) -> Value {
        self.ok_json(&format!("/payments?paymethodId={id}")).await
    }

    /// All of a customer's messages (`GET /messages`, every page), by id.
    pub async fn messages(&self, customer: &str) -> Vec<Value> {
        self.all_items(&format!("/messages?customerId={customer}"))
            .await
    }

    /// `GET /admin/messages/{id}`, which must answer 200: a message and its deliveries.
    pub async fn message(&self, id: u64) -> Value {
        self.ok_json(&format!("/admin/messages/{id}")).await
    }

    /// `POST /admin/messages/{id}/redeliver`.
    pub async fn redeliver(&self, id: u64) -> Response {
        self.post_json(&format!("/admin/messages/{id}/redeliver"), &json!({}))
            .await
    }

    /// `GET /mypages/{customer}`, which must answer 200; with `min`, read-your-writes from
    /// that position.
    pub async fn mypage(&self, customer: &str, min: Option<u64>) -> Value {
        let path = match min {
            Some(p) => format!("/mypages/{customer}?minPosition={p}"),
            None => format!("/mypages/{customer}"),
        };
        self.ok_json(&path).await
    }

    /// `POST /admin/paymethods/{id}/release`.
    pub async fn release(&self, id: u64) -> Response {
        self.post_raw(&format!("/admin/paymethods/{id}/release"), None, "")
            .await
    }

    /// `GET /admin/breaker`, which must answer 200.
    pub async fn breaker(&self) -> Value {
        self.ok_json("/admin/breaker").await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Response {
        self.get("/healthz").await
    }

    /// `GET /readyz`.
    pub async fn ready(&self) -> Response {
        self.get("/readyz").await
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// `GET /openapi.json`, which must answer 200.
    pub async fn openapi(&self) -> Value {
        self.ok_json("/openapi.json").await
    }

    /// Every item of a paged listing, following `nextAfter`.
    pub async fn all_items(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = self
                .ok_json(&format!("{path}{sep}limit=200&after={after}"))
                .await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["nextAfter"].as_u64() {
                Some(next) => after = next,
                None => return items,
            }
        }
    }

    /// `GET /admin/keys?limit=200`, which must answer 200; the keys.
    pub async fn all_keys(&self) -> Vec<Value> {
        let page = self.ok_json("/admin/keys?limit=200").await;
        assert!(page["nextAfter"].is_null(), "more than 200 keys");
        page["items"].as_array().unwrap().clone()
    }

    /// `GET /admin/audit?limit=200`, which must answer 200; the entries, oldest first.
    pub async fn audit(&self) -> Vec<Value> {
        self.all_items("/admin/audit").await
    }

    /// A GET that must answer 200; its JSON body.
    pub async fn ok_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }
}
