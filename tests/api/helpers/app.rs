//! `TestApp`: one running paytree, in this process or a child process, with one method per
//! route. `spawn_app()` builds it in this process, as `paytree serve` would with the same flags.

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
    pub address: String,
    pub client: Client,
    pub dir: PathBuf,
    /// The key the client sends, if any.
    pub key: Option<String>,
    _server: Option<Arc<InProcess>>,
}

/// What keeps an in-process server: its shutdown signal and its data dir.
struct InProcess {
    shutdown: Option<oneshot::Sender<()>>,
    _temp: TempDir,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// paytree in this process with a fresh data dir and the embedded payment system.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// paytree in this process with `paytree serve` flags.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    let (app, temp) = build_app(flags).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("{}://{}", app.scheme(), listener.local_addr().unwrap());
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async {
            let _ = stop.await;
        };
        app.run(listener, stopped).await.expect("paytree serves");
    });
    let dir = temp.path().join("data");
    let key = admin_key(&dir);
    TestApp {
        address,
        client: client_with(key.as_deref()),
        key,
        dir,
        _server: Some(Arc::new(InProcess {
            shutdown: Some(shutdown),
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
            client: client_with(key.as_deref()),
            key,
            dir,
            _server: None,
        }
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

    /// A second handle on the same server (for concurrent clients).
    pub fn handle(app: &TestApp) -> TestApp {
        app.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
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
