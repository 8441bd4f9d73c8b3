//! HTTPS on every side, with certificates made for the test (a CA and a leaf for localhost
//! and 127.0.0.1): paytree serving HTTPS, calling a payment system that serves HTTPS and asks
//! for a key, and posting to a webhook over HTTPS; certificates from an unknown CA refused
//! everywhere; TLS flags that cannot work refused at start.

use crate::helpers::*;
use axum::body::Bytes;
use paytree::app::ProviderOptions;
use paytree::config::Secret;
use paytree::serve::Server;
use reqwest::Method;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "psk_test_0123456789abcdef";

#[tokio::test]
async fn paytree_serves_https_to_a_client_that_trusts_its_ca_and_to_no_other() {
    let certs = test_certs();
    let mut app = spawn_app_with(&certs.serve_flags()).await;
    assert!(
        app.address.starts_with("https://127.0.0.1:"),
        "{}",
        app.address
    );
    // Every helper of TestApp now goes over HTTPS, with the admin key.
    app.client = certs.client_with_key(app.key.as_deref().unwrap());
    let method = app.register_ok("tess", VISA).await;
    assert_eq!(app.paymethod(method.id()).await["last4"], "4242");

    let refused = untrusting_client()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    let why = paytree::tls::request_error(refused);
    assert!(why.contains("UnknownIssuer"), "{why}");
    let plain = app.url("/healthz").replace("https://", "http://");
    assert!(reqwest::Client::new().get(plain).send().await.is_err());
}

/// The simulated payment system over HTTPS with `certs`, asking for `KEY`.
async fn spawn_tls_provider(certs: &TestCerts) -> TestProvider {
    let options = ProviderOptions {
        api_key: Some(Secret::from(KEY.to_owned())),
        tls: Some(certs.server_tls()),
    };
    let provider = spawn_provider_with(options, certs.client()).await;
    assert!(
        provider.address.starts_with("https://"),
        "{}",
        provider.address
    );
    provider
}

async fn authorization_calls(provider: &TestProvider) -> u64 {
    provider.stats().await["authorizationCalls"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn the_simulated_payment_system_refuses_calls_without_exactly_its_key() {
    let certs = test_certs();
    let provider = spawn_tls_provider(&certs).await;
    let url = format!("{}/v1/stats", provider.address);
    let client = certs.client();
    let wrong = [
        None,
        Some("Bearer psk_test_wrong".to_owned()),
        Some(format!("Bearer {KEY}x")),
        Some(format!("Basic {KEY}")),
        Some(KEY.to_owned()),
    ];
    for authorization in wrong {
        let mut request = client.get(&url);
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{authorization:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    let r = provider
        .request(Method::GET, "/v1/stats")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health = client.get(format!("{}/healthz", provider.address));
    assert_eq!(
        health.send().await.unwrap().status(),
        200,
        "health needs no key"
    );
}

#[tokio::test]
async fn paytree_pays_through_an_https_payment_system_with_its_key_and_never_logs_the_key() {
    let certs = test_certs();
    let provider = spawn_tls_provider(&certs).await;
    // A process of its own: its log is read.
    let ca = arg(&certs.ca);
    let mut app = spawn_process_with(&[
        "--provider",
        &provider.address,
        "--ca-file",
        ca,
        "--provider-key",
        KEY,
    ])
    .await;
    app.register_ok("pia", VISA).await;
    assert_eq!(authorization_calls(&provider).await, 1);
    let status = app.stop().await;
    assert!(status.success());
    let log = app.log();
    assert!(log.contains("paytree started"), "{log}");
    assert!(!log.contains(KEY), "{log}");
}

#[tokio::test]
async fn without_its_key_the_payment_system_answers_401_and_a_registration_is_503() {
    let certs = test_certs();
    let provider = spawn_tls_provider(&certs).await;
    let ca = arg(&certs.ca);
    let app = spawn_app_with(&["--provider", &provider.address, "--ca-file", ca]).await;
    let r = app.register("quinn", "card", VISA).await;
    assert_problem(r, 503, "payment-unavailable").await;
    let r = app.register("quinn", "card", VISA).await;
    assert_problem(r, 503, "payment-unavailable").await;
    assert_eq!(authorization_calls(&provider).await, 0);
    // A 401 is a problem of ours, not of the payment system's health: the breaker stays shut.
    assert_eq!(app.breaker().await["state"], "closed");
}

#[tokio::test]
async fn without_the_ca_paytree_refuses_the_payment_systems_certificate() {
    let certs = test_certs();
    let provider = spawn_tls_provider(&certs).await;
    let app = spawn_app_with(&["--provider", &provider.address, "--provider-key", KEY]).await;
    let r = app.register("ruth", "card", VISA).await;
    assert_problem(r, 503, "payment-unavailable").await;
    assert_eq!(authorization_calls(&provider).await, 0);
    assert!(
        app.list("ruth").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A webhook receiver over HTTPS with `certs`: its URL, and the bodies it got.
async fn spawn_tls_receiver(certs: &TestCerts) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let bodies = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| async move {
            bodies
                .lock()
                .unwrap()
                .push(serde_json::from_slice::<Value>(&body).unwrap());
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    let server = Server {
        tls: Some(certs.server_tls()),
        ..Server::default()
    };
    tokio::spawn(async move { server.serve(listener, router, std::future::pending()).await });
    (url, received)
}

/// Waits (at most 10 s) until `customer`'s first message is no longer pending; it.
async fn settled_message(app: &TestApp, customer: &str) -> Value {
    for _ in 0..200 {
        let messages = app.messages(customer).await;
        if let Some(m) = messages.first().filter(|m| m["status"] != "pending") {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{customer}'s message is still pending");
}

#[tokio::test]
async fn the_webhook_is_delivered_over_https_to_a_receiver_trusted_through_the_ca_file() {
    let certs = test_certs();
    let (url, received) = spawn_tls_receiver(&certs).await;
    let flags = [
        "--notify-webhook",
        &url,
        "--notify-webhook-secret",
        "whsec_tls",
        "--notify-retries",
        "1ms",
    ];
    let ca = ["--ca-file", arg(&certs.ca)];
    let app = spawn_app_with(&[&flags[..], &ca[..]].concat()).await;
    app.register_ok("wes", VISA).await;
    assert_eq!(settled_message(&app, "wes").await["status"], "delivered");
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["type"], "PaymentMethodRegistered");

    // Without the CA the receiver's certificate is refused: nothing arrives, and every
    // attempt says why.
    let untrusting = spawn_app_with(&flags).await;
    untrusting.register_ok("val", VISA).await;
    let message = settled_message(&untrusting, "val").await;
    assert_eq!(message["status"], "failed");
    let detail = untrusting.message(message.id()).await;
    for attempt in detail["deliveryAttempts"].as_array().unwrap() {
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("UnknownIssuer"), "{detail}");
    }
    assert_eq!(received.lock().unwrap().len(), 1);
}

/// `paytree serve` with `flags` must exit non-zero, at once, saying `expected` on stderr,
/// without a panic and without creating its data dir.
async fn refused_at_start(flags: &[&str], expected: &str) {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", arg(&dir)];
    args.extend_from_slice(flags);
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_paytree"))
        .args(&args)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("it exits at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{flags:?} started: {stdout}");
    assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
    assert!(!stdout.contains("listening"), "{flags:?}: {stdout}");
    assert!(!dir.exists(), "{flags:?} created the data dir");
}

#[tokio::test]
async fn tls_flags_that_cannot_work_are_refused_at_start_with_a_clear_error() {
    let certs = test_certs();
    let cert = arg(&certs.cert);
    let key = arg(&certs.key);
    let missing = certs.file("gone.pem", "");
    std::fs::remove_file(&missing).unwrap();
    let missing = arg(&missing);
    let not_pem = certs.file("not.pem", "this is no certificate\n");
    let not_pem = arg(&not_pem);
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let broken = certs.file("broken.pem", broken);
    let broken = arg(&broken);
    let cases: &[(&[&str], &str)] = &[
        (&["--tls-cert", cert], "--tls-cert needs --tls-key"),
        (&["--tls-key", key], "--tls-key needs --tls-cert"),
        (
            &["--tls-cert", missing, "--tls-key", key],
            "--tls-cert: cannot read",
        ),
        (
            &["--tls-cert", cert, "--tls-key", missing],
            "--tls-key: cannot read",
        ),
        (
            &["--tls-cert", not_pem, "--tls-key", key],
            "holds no PEM certificate",
        ),
        (
            &["--tls-cert", cert, "--tls-key", not_pem],
            "holds no PEM private key",
        ),
        (
            &["--tls-cert", cert, "--tls-key", cert],
            "holds no PEM private key",
        ),
        (
            &["--tls-cert", cert, "--tls-key", arg(&certs.other_key)],
            "do not make a usable pair",
        ),
        (&["--ca-file", missing], "--ca-file: cannot read"),
        (&["--ca-file", not_pem], "holds no PEM certificate"),
        (&["--ca-file", broken], "holds an unusable certificate"),
        (
            &["--provider", "ftp://127.0.0.1:1"],
            "http:// or https:// URL",
        ),
    ];
    for (flags, expected) in cases {
        refused_at_start(flags, expected).await;
    }
}

#[tokio::test]
async fn the_provider_command_refuses_a_certificate_without_its_key() {
    let certs = test_certs();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_paytree"))
        .args([
            "provider",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            arg(&certs.cert),
        ])
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("it exits at once")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}
