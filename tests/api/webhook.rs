//! The webhook channel against a receiver in the test process that can be down (503), slow
//! (answers after the sender's timeout) or up; and a `kill -9` between commit and delivery.

use crate::helpers::*;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec_test";
const UP: u8 = 0;
const DOWN: u8 = 1;
const SLOW: u8 = 2;

#[derive(Clone, Debug)]
struct Received {
    body: Value,
    signed: bool,
    accepted: bool,
}

#[derive(Default)]
struct ReceiverState {
    mode: AtomicU8,
    received: Mutex<Vec<Received>>,
}

struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

/// Checks `Paytree-Signature: t=…,v1=…` against HMAC-SHA256 of "t.body" under the secret.
fn valid_signature(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(value) = headers
        .get("paytree-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
}

async fn spawn_receiver(mode: u8) -> Receiver {
    let state = Arc::new(ReceiverState::default());
    state.mode.store(mode, Ordering::SeqCst);
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = shared.clone();
            async move {
                let mode = state.mode.load(Ordering::SeqCst);
                if mode == SLOW {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                }
                state.received.lock().unwrap().push(Received {
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    signed: valid_signature(&headers, &body),
                    accepted: mode == UP,
                });
                match mode {
                    UP => StatusCode::OK,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, state }
}

impl Receiver {
    fn set(&self, mode: u8) {
        self.state.mode.store(mode, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    fn accepted_event_ids(&self) -> Vec<u64> {
        self.received()
            .iter()
            .filter(|r| r.accepted)
            .map(|r| r.body["eventId"].as_u64().unwrap())
            .collect()
    }
}

/// Flags for a server that sends to `receiver`, with `retries` waits of `wait` each.
fn webhook_flags(receiver: &Receiver, retries: usize, wait: &str) -> Vec<String> {
    let schedule = vec![wait; retries].join(",");
    [
        "--notify-webhook",
        &receiver.url,
        "--notify-webhook-secret",
        SECRET,
        "--notify-timeout-ms",
        "200",
        "--notify-retries",
        &schedule,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn as_strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// Waits (at most 20 s) until `customers` have at least `n` messages and none is `pending`.
async fn wait_until_settled(app: &TestApp, customers: &[String], n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let mut all = Vec::new();
        for c in customers {
            all.extend(app.messages(c).await);
        }
        if all.len() >= n && all.iter().all(|m| m["status"] != "pending") {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("messages were still pending after 20 s");
}

/// `GET /admin/messages/{id}`, and its attempts (as many as the message counts).
async fn delivery_attempts(app: &TestApp, id: u64) -> (Value, Vec<Value>) {
    let detail = app.message(id).await;
    let attempts = detail["deliveryAttempts"].as_array().unwrap().clone();
    assert_eq!(detail["attempts"], attempts.len());
    (detail, attempts)
}

#[tokio::test]
async fn a_webhook_that_is_down_then_slow_then_up_gets_every_message_signed_and_in_order() {
    let receiver = spawn_receiver(DOWN).await;
    let flags = webhook_flags(&receiver, 80, "100ms");
    // It reads which delivery-outcome series exist: a process of its own.
    let app = spawn_process_with(&as_strs(&flags)).await;

    // While the receiver is down, every command is answered: none waits for the webhook.
    let customers: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    let mut acknowledged = BTreeSet::new();
    let mut ids = Vec::new();
    for c in &customers {
        let r = app.register(c, "card", VISA).await;
        assert_eq!(r.status(), 201);
        acknowledged.insert(position(&r));
        ids.push(r.json::<Value>().await.unwrap().id());
    }
    for id in &ids {
        let r = app.change(*id, &json!({"number": MASTERCARD}), None).await;
        assert_eq!(r.status(), 200);
        acknowledged.insert(position(&r));
    }
    assert!(receiver.accepted_event_ids().is_empty());

    // Down, then slow (every answer comes after the 200 ms timeout), then up.
    tokio::time::sleep(Duration::from_millis(800)).await;
    receiver.set(SLOW);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    receiver.set(UP);
    let customers_messages = wait_until_settled(&app, &customers, acknowledged.len()).await;
    assert!(
        customers_messages
            .iter()
            .all(|m| m["status"] == "delivered"),
        "{customers_messages:?}"
    );

    let received = receiver.received();
    assert!(received.iter().all(|r| r.signed), "every request is signed");
    let accepted: BTreeSet<u64> = receiver.accepted_event_ids().into_iter().collect();
    assert_eq!(accepted, acknowledged, "every event's message arrived");
    // Per payment method, the receiver first accepted the registration, then the change.
    let mut first_accepted: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.accepted) {
        let list = first_accepted
            .entry(r.body["paymethodId"].as_u64().unwrap())
            .or_default();
        let event = r.body["eventId"].as_u64().unwrap();
        if !list.contains(&event) {
            list.push(event);
        }
    }
    for (paymethod, events) in &first_accepted {
        assert!(events.is_sorted(), "method {paymethod}: {events:?}");
        assert_eq!(events.len(), 2);
    }

    // The first message's attempts: refused, timed out, then delivered.
    let first = acknowledged.first().unwrap();
    let (detail, attempts) = delivery_attempts(&app, *first).await;
    assert!(attempts.iter().any(|a| a["statusCode"] == 503), "{detail}");
    assert!(
        attempts.iter().any(|a| a["error"] == "timed out"),
        "{detail}"
    );
    assert_eq!(attempts.last().unwrap()["statusCode"], 200);
    let metrics = app.metrics().await;
    for outcome in ["delivered", "rejected", "timeout"] {
        let series =
            format!("paytree_delivery_attempts_total{{channel=\"webhook\",outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&series), "{series}");
    }
}

#[tokio::test]
async fn a_message_fails_after_its_last_retry_and_can_be_redelivered() {
    let receiver = spawn_receiver(DOWN).await;
    let flags = webhook_flags(&receiver, 2, "50ms");
    let app = spawn_app_with(&as_strs(&flags)).await;
    let r = app.register("ivy", "card", VISA).await;
    let event = position(&r);
    let settled = wait_until_settled(&app, &["ivy".to_owned()], 1).await;
    assert_eq!(settled[0]["status"], "failed");
    assert_eq!(settled[0]["attempts"], 3, "the first try and two retries");

    receiver.set(UP);
    let r = app.redeliver(event).await;
    assert_eq!(r.status(), 202);
    let settled = wait_until_settled(&app, &["ivy".to_owned()], 1).await;
    assert_eq!(settled[0]["status"], "delivered");
    assert_eq!(settled[0]["attempts"], 4);
    assert_eq!(receiver.accepted_event_ids(), [event]);

    assert_problem(app.redeliver(999).await, 404, "not-found").await;
    let inbox_only = spawn_app().await;
    let r = inbox_only.register("ivy", "card", VISA).await;
    wait_for_messages(&inbox_only, "ivy", 1).await;
    assert_problem(inbox_only.redeliver(position(&r)).await, 409, "no-webhook").await;
}

#[tokio::test]
async fn kill_dash_nine_between_commit_and_delivery_still_gives_one_message_per_event() {
    let receiver = spawn_receiver(DOWN).await;
    let flags = webhook_flags(&receiver, 200, "50ms");
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &as_strs(&flags)).await;

    // Eight clients register until the server is killed under them.
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let mut clients = Vec::new();
    for c in 0..8 {
        let app = TestApp::handle(&app);
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"customerId": format!("k{c}"), "kind": "card", "number": VISA});
                let Ok(r) = app
                    .client
                    .post(app.url("/paymethods"))
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if r.status() == 201 {
                    acknowledged.lock().unwrap().insert(position(&r));
                }
                if i > 10_000 {
                    return;
                }
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.kill().await;
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    receiver.set(UP);
    let app = start_serve(&dir, &as_strs(&flags)).await;
    let customers: Vec<String> = (0..8).map(|c| format!("k{c}")).collect();
    let messages = wait_until_settled(&app, &customers, acknowledged.len()).await;
    let mut per_event: BTreeMap<u64, usize> = BTreeMap::new();
    for m in &messages {
        assert_eq!(m["status"], "delivered");
        *per_event.entry(m["eventId"].as_u64().unwrap()).or_default() += 1;
    }
    assert!(
        per_event.values().all(|n| *n == 1),
        "a message per event, once"
    );
    let events: BTreeSet<u64> = per_event.keys().copied().collect();
    assert!(
        acknowledged.is_subset(&events),
        "every acknowledged registration has its message"
    );
    let delivered: BTreeSet<u64> = receiver.accepted_event_ids().into_iter().collect();
    assert_eq!(
        delivered, events,
        "the receiver got every message at least once"
    );
    assert!(receiver.received().iter().all(|r| r.signed));
}

#[tokio::test]
async fn a_message_pending_when_paytree_restarts_without_a_webhook_fails_and_can_be_sent_later() {
    let receiver = spawn_receiver(DOWN).await;
    let flags = webhook_flags(&receiver, 100, "1s");
    // It keeps the data dir for the runs after it.
    let mut first = spawn_process_with(&as_strs(&flags)).await;
    let event = position(&first.register("nia", "card", VISA).await);
    let mut tried = false;
    for _ in 0..200 {
        let messages = first.messages("nia").await;
        if messages
            .first()
            .is_some_and(|m| m["attempts"].as_u64() >= Some(1))
        {
            assert_eq!(messages[0]["status"], "pending", "it waits for its retry");
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tried, "the webhook was tried once");
    assert!(first.stop().await.success());

    // Restarted without a webhook: the message will never be sent, so it is not pending.
    let mut app = start_serve(&first.dir, &[]).await;
    let mut message = Value::Null;
    for _ in 0..100 {
        message = app.messages("nia").await[0].clone();
        if message["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(message["status"], "failed", "{message}");
    let (detail, attempts) = delivery_attempts(&app, event).await;
    assert_eq!(attempts[0]["statusCode"], 503);
    let last = attempts.last().unwrap();
    assert_eq!(
        last["error"], "not sent: no webhook is configured",
        "{detail}"
    );
    assert_eq!(last["statusCode"], Value::Null);
    assert_eq!(metric(&app, "paytree_messages_pending").await, 0.0);
    assert_problem(app.redeliver(event).await, 409, "no-webhook").await;
    assert!(app.stop().await.success());

    // With a webhook configured again, it can be sent again.
    receiver.set(UP);
    let app = start_serve(&first.dir, &as_strs(&flags)).await;
    assert_eq!(app.redeliver(event).await.status(), 202);
    let settled = wait_until_settled(&app, &["nia".to_owned()], 1).await;
    assert_eq!(settled[0]["status"], "delivered");
    assert_eq!(receiver.accepted_event_ids(), [event]);
}

#[tokio::test]
async fn order_messages_reach_the_webhook_signed_with_their_order_and_no_payment_method() {
    let receiver = spawn_receiver(UP).await;
    let flags = webhook_flags(&receiver, 2, "50");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_app_with(&flags).await;
    let card = app.shopper("olga").await;
    let order = app.order_ok("olga", card, 1).await.id();
    assert_eq!(app.cancel(order).await.status(), 202);
    app.order_in(order, "cancelled").await;
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds = receiver
            .received()
            .iter()
            .filter(|r| r.accepted && r.body["orderId"] == order)
            .map(|r| {
                assert!(r.signed, "{:?}", r.body);
                assert!(r.body["paymethodId"].is_null(), "{:?}", r.body);
                r.body["type"].as_str().unwrap().to_owned()
            })
            .collect();
        if kinds.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        kinds,
        ["OrderPlaced", "OrderCancelled"],
        "in event order, one each"
    );
}
