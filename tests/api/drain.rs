//! What a SIGTERMed server does with its connections (raw TCP, to watch each one): a
//! kept-alive connection gets `Connection: close` on its next answer, an idle one is closed
//! only after a grace; at the deadline, what has not started is answered 503 and a command
//! that has started gets its own answer; and the process exits.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Completes once the server no longer accepts connections: its drain has begun.
async fn until_refused(app: &TestApp) {
    let addr = app.address.split("://").nth(1).unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(started.elapsed() < GENEROUS, "still accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts a raw answer is 503 `shutting-down`, to be retried, on a closing connection.
fn assert_shutting_down(answer: &str) {
    let lower = answer.to_ascii_lowercase();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(lower.contains("retry-after: 1"), "{answer}");
    assert!(
        answer.contains(r#""type":"/problems/shutting-down""#),
        "{answer}"
    );
}

/// A process whose only bound at SIGTERM is its shutdown grace (`grace_ms`; the head and
/// body timeouts are a minute), with a request in flight whose body stalls.
async fn with_a_stalled_request(grace_ms: &str) -> (TestProcess, TcpStream) {
    let app = spawn_process_with(&[
        "--shutdown-grace-ms",
        grace_ms,
        "--header-timeout-ms",
        "60000",
        "--body-timeout-ms",
        "60000",
    ])
    .await;
    let mut in_body = connect(&app).await;
    in_body.write_all(&stalled_body(&app)).await.unwrap();
    (app, in_body)
}

#[tokio::test]
async fn a_draining_server_closes_kept_alive_connections_after_an_answer_or_an_idle_grace() {
    // The stalled request holds the drain open until the deadline, which answers it.
    let (mut app, mut in_body) = with_a_stalled_request("3000").await;
    let (mut busy, mut idle) = (connect(&app).await, connect(&app).await);
    for stream in [&mut busy, &mut idle] {
        stream.write_all(HEALTHZ).await.unwrap();
        let answer = read_response(stream).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(!answer.to_ascii_lowercase().contains("connection: close"));
    }
    let sigterm = Instant::now();
    app.terminate();
    until_refused(&app).await;
    // The next request on a kept-alive connection is served, and its connection closed.
    busy.write_all(HEALTHZ).await.unwrap();
    let (answer, _) = read_until_closed(&mut busy).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
    // An idle one is kept for the grace (its client might be sending), then closed.
    let (nothing, _) = read_until_closed(&mut idle).await;
    assert_eq!(nothing, "");
    let idle_for = sigterm.elapsed();
    assert!(idle_for >= Duration::from_millis(1000), "{idle_for:?}");
    let (answer, _) = read_until_closed(&mut in_body).await;
    assert_shutting_down(&answer);
    assert!(app.stop().await.success());
}

#[tokio::test]
async fn a_sigtermed_server_answers_a_stalled_request_503_at_the_deadline_and_exits() {
    // Without the deadline, the stalled body would hold the server for its minute-long
    // timeout, past the 30 s `stop` waits.
    let (mut app, mut in_body) = with_a_stalled_request("500").await;
    let mut in_head = connect(&app).await;
    in_head
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    // The server has read what they sent (and is waiting for the rest) once this is served.
    assert_eq!(app.health().await.status(), 200);
    let started = Instant::now();
    let status = app.stop().await;
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < GENEROUS, "took {took:?}");
    assert!(app.log().contains("shutdown grace over"), "{}", app.log());
    // The request in flight is answered; the half-sent head, no request yet, is dropped.
    let (answer, _) = read_until_closed(&mut in_body).await;
    assert_shutting_down(&answer);
    let (answer, _) = read_until_closed(&mut in_head).await;
    assert_eq!(answer, "");
}

#[tokio::test]
async fn at_the_deadline_a_queued_command_is_answered_503_and_a_started_one_gets_its_own_answer() {
    let provider = spawn_provider().await;
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let flags = [
        "--provider",
        &provider.address,
        "--payment-timeout-ms",
        "10000",
        "--shutdown-grace-ms",
        "1000",
    ];
    let mut app = start_serve(&dir, &flags).await;
    let id = app.register_ok("dana", VISA).await.id();
    let calls = || async { provider.stats().await["authorizationCalls"].clone() };
    let before = calls().await;
    provider.set_faults(json!({"latencyMs": 3000})).await;
    let api = TestApp::clone(&app);
    let started =
        tokio::spawn(async move { api.change(id, &json!({"number": MASTERCARD}), None).await });
    // Its command has started once its verification has reached the payment system.
    let reached = Instant::now();
    while calls().await == before {
        assert!(reached.elapsed() < GENEROUS, "the change never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let during = calls().await;
    let api = TestApp::clone(&app);
    let queued = tokio::spawn(async move { api.change(id, &json!({"number": VISA}), None).await });
    // Time to reach the payment method's queue, behind the change that runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sigterm = Instant::now();
    let status = app.stop().await;
    let took = sigterm.elapsed();
    assert!(status.success(), "{status:?}");
    let queued = queued.await.unwrap();
    assert_eq!(queued.status(), 503);
    assert_eq!(queued.headers()["connection"], "close");
    assert_eq!(retry_after(&queued), 1);
    let body: Value = queued.json().await.unwrap();
    assert_eq!(body["type"], "/problems/shutting-down", "{body}");
    let started = started.await.unwrap();
    assert_eq!(
        started.status(),
        200,
        "the started change is answered as it ended"
    );
    // The grace, the rest of the started change's payment call, and a generous margin.
    assert!(took < Duration::from_secs(4) + GENEROUS, "took {took:?}");
    assert_eq!(calls().await, during, "the queued change never ran");
    let app = start_serve(&dir, &flags).await;
    let stored = app.paymethod(id).await;
    assert_eq!(stored["version"], 2, "{stored}");
    assert_eq!(stored["last4"], "4444", "{stored}");
}
