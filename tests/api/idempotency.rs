use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_repeated_request_with_the_same_key_gets_the_first_response_and_pays_once() {
    let app = spawn_app().await;
    let body = json!({"customerId": "yara", "kind": "card", "number": VISA, "requestId": 5});
    let first = app.register_with_key("order-5", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_location = first.headers()["location"].clone();
    let first_body: Value = first.json().await.unwrap();
    // The same request, the number spelled differently: the same answer, replayed.
    let again = json!({"customerId": "yara", "kind": "card", "number": "4242-4242-4242-4242", "requestId": 5});
    let second = app.register_with_key("order-5", &again).await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["location"], first_location);
    assert_eq!(second.json::<Value>().await.unwrap(), first_body);
    assert_eq!(app.list("yara").await.items().len(), 1);
    assert_eq!(app.payments_of("yara").await.items().len(), 1);
}

#[tokio::test]
async fn a_key_reused_for_a_different_request_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let body = json!({"customerId": "zed", "kind": "card", "number": VISA});
    assert_eq!(app.register_with_key("k", &body).await.status(), 201);
    let other = json!({"customerId": "zed", "kind": "card", "number": MASTERCARD});
    assert_problem(
        app.register_with_key("k", &other).await,
        422,
        "idempotency-mismatch",
    )
    .await;
    assert_eq!(app.list("zed").await.items().len(), 1);
    // Keys are scoped per customer: another customer may use the same key.
    let theirs = json!({"customerId": "zoe", "kind": "card", "number": MASTERCARD});
    assert_eq!(app.register_with_key("k", &theirs).await.status(), 201);
}

#[tokio::test]
async fn a_declined_outcome_is_kept_under_the_key_and_replayed() {
    let app = spawn_app().await;
    let body = json!({"customerId": "abe", "kind": "card", "number": DECLINED});
    let first = assert_problem(
        app.register_with_key("d1", &body).await,
        402,
        "payment-declined",
    )
    .await;
    let r = app.register_with_key("d1", &body).await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let second = assert_problem(r, 402, "payment-declined").await;
    assert_eq!(first, second);
    assert_eq!(
        app.payments_of("abe").await.items().len(),
        1,
        "one declined payment"
    );
}

#[tokio::test]
async fn a_concurrent_request_with_the_key_in_flight_is_409_and_a_503_may_be_retried() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address.clone()]).await;
    let body = json!({"customerId": "bea", "kind": "card", "number": VISA});
    provider.set_faults(json!({"latencyMs": 600})).await;
    let slow = {
        let client = app.client.clone();
        let url = app.url("/paymethods");
        let body = body.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", "c1")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_problem(
        app.register_with_key("c1", &body).await,
        409,
        "idempotency-in-flight",
    )
    .await;
    assert_eq!(slow.await.unwrap(), 201);
    assert_eq!(
        app.register_with_key("c1", &body).await.headers()["idempotent-replayed"],
        "true"
    );

    // A 503 is not final: the same key runs again once the payment system is back.
    provider.set_faults(json!({"down": true})).await;
    let other = json!({"customerId": "bea", "kind": "card", "number": MASTERCARD});
    assert_problem(
        app.register_with_key("c2", &other).await,
        503,
        "payment-unavailable",
    )
    .await;
    provider.set_faults(json!({})).await;
    let retried = app.register_with_key("c2", &other).await;
    assert_eq!(retried.status(), 201);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.list("bea").await.items().len(), 2);
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &[]).await;
    let body = json!({"customerId": "cy", "kind": "card", "number": VISA});
    let first: Value = app
        .register_with_key("r1", &body)
        .await
        .json()
        .await
        .unwrap();
    assert!(app.stop().await.success());
    let app = start_serve(&dir, &[]).await;
    let again = app.register_with_key("r1", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.list("cy").await.items().len(), 1);
}

#[tokio::test]
async fn a_client_that_gives_up_and_retries_at_once_does_not_cause_a_second_payment() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address.clone()]).await;
    provider.set_faults(json!({"latencyMs": 800})).await;
    let body = json!({"customerId": "dora", "kind": "card", "number": VISA});
    let impatient = app
        .client
        .post(app.url("/paymethods"))
        .header("idempotency-key", "g1")
        .timeout(Duration::from_millis(150))
        .json(&body)
        .send()
        .await;
    assert!(impatient.is_err(), "the client gave up");
    // The first request is still verifying: its key is still claimed.
    assert_problem(
        app.register_with_key("g1", &body).await,
        409,
        "idempotency-in-flight",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let retried = app.register_with_key("g1", &body).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(app.list("dora").await.items().len(), 1);
    let approvals = provider.ledger().await["authorizations"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(approvals, 1, "one authorization at the payment system");
}
