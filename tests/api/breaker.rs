use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_slow_payment_system_opens_the_breaker_which_fails_fast_and_closes_after_recovery() {
    let provider = spawn_provider().await;
    // It reads the breaker-state gauge and payment-call counters as absolute values.
    let app = spawn_process_with(&[
        "--provider",
        &provider.address.clone(),
        "--payment-timeout-ms",
        "300",
        "--breaker-open-ms",
        "1500",
    ])
    .await;
    provider.set_faults(json!({"latencyMs": 1000})).await;
    for _ in 0..5 {
        assert_problem(
            app.register("sam", "card", VISA).await,
            503,
            "payment-unavailable",
        )
        .await;
    }
    let breaker = app.breaker().await;
    assert_eq!(breaker["state"], "open");
    assert!(
        breaker["replica"].is_null(),
        "one process: no replica to name"
    );
    // Open: rejected at once, without waiting for the slow payment system.
    let started = Instant::now();
    let r = app.register("sam", "card", VISA).await;
    let waited = started.elapsed();
    let retry_after = retry_after(&r);
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_problem(r, 503, "payment-unavailable").await;
    assert!(
        waited < Duration::from_millis(300),
        "an open breaker does not call the payment system ({waited:?})"
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("paytree_breaker_state 1"), "{metrics}");

    provider.set_faults(json!({})).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(app.register("sam", "card", VISA).await.status(), 201);
    let breaker = app.breaker().await;
    assert_eq!(breaker["state"], "closed");
    assert_eq!(app.list("sam").await.items().len(), 1);
    // Timed-out calls were abandoned (the simulator drops them); only the recovered one counts.
    let ledger = provider.ledger().await;
    assert_eq!(
        ledger["authorizations"].as_array().unwrap().len(),
        1,
        "{ledger}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"paytree_payment_calls_total{call="verification",outcome="timeout"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"paytree_payment_calls_total{call="verification",outcome="rejected"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_payment_system_that_is_down_gives_503_with_retry_after_and_stores_nothing() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address.clone()]).await;
    provider.set_faults(json!({"down": true})).await;
    for _ in 0..3 {
        let r = app.register("tina", "card", VISA).await;
        assert!(r.headers().contains_key("retry-after"));
        assert_problem(r, 503, "payment-unavailable").await;
    }
    assert_eq!(app.list("tina").await.items().len(), 0);
    assert_eq!(app.payments_of("tina").await.items().len(), 0);
}

#[tokio::test]
async fn declines_never_open_the_breaker() {
    let app = spawn_app().await;
    for _ in 0..8 {
        assert_eq!(app.register("uma", "card", DECLINED).await.status(), 402);
    }
    let breaker = app.breaker().await;
    assert_eq!(breaker["state"], "closed");
    assert_eq!(app.register("uma", "card", VISA).await.status(), 201);
}

#[tokio::test]
async fn an_open_breaker_stays_open_across_a_restart_for_the_rest_of_its_period() {
    let provider = spawn_provider().await;
    let flags = [
        "--provider",
        &provider.address.clone(),
        "--breaker-open-ms",
        "30000",
    ]
    .map(str::to_owned);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut app = spawn_process_with(&flags).await;
    provider.set_faults(json!({"down": true})).await;
    for _ in 0..5 {
        assert_eq!(app.register("vic", "card", VISA).await.status(), 503);
    }
    let breaker = app.breaker().await;
    assert_eq!(breaker["state"], "open");
    // The opening is recorded a moment after it happens; a crash before that would lose it.
    let mut recorded = false;
    for _ in 0..100 {
        let breaker = app.breaker().await;
        if breaker["recordedOpenUntilMs"].is_u64() {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recorded, "the opening was recorded in the store");

    // The process dies during the outage; the payment system recovers meanwhile.
    app.kill().await;
    provider.set_faults(json!({})).await;
    let app = start_serve(&app.dir, &flags).await;
    let breaker = app.breaker().await;
    assert_eq!(breaker["state"], "open", "{breaker}");
    let left = breaker["retryAfterSeconds"].as_u64().unwrap();
    assert!(
        (20..=30).contains(&left),
        "{left} s left of the 30 s period"
    );
    let r = app.register("vic", "card", VISA).await;
    let retry_after = retry_after(&r);
    assert!((20..=30).contains(&retry_after));
    assert_problem(r, 503, "payment-unavailable").await;
    assert_eq!(
        provider.ledger().await["authorizations"],
        json!([]),
        "no call reached the payment system"
    );
}

#[tokio::test]
async fn retry_after_of_a_registration_refused_by_an_open_breaker_is_rounded_up() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&[
        "--provider",
        &provider.address.clone(),
        "--breaker-open-ms",
        "30000",
    ])
    .await;
    provider.set_faults(json!({"down": true})).await;
    for _ in 0..5 {
        assert_eq!(app.register("wes", "card", VISA).await.status(), 503);
    }
    let r = app.register("wes", "card", VISA).await;
    let retry_after = retry_after(&r);
    assert_problem(r, 503, "payment-unavailable").await;
    // Read after the refusal, the time left can only be shorter; rounded up (as
    // `/admin/breaker` rounds it), it cannot be more than the refusal's Retry-After.
    let breaker: Value = app.get("/admin/breaker").await.json().await.unwrap();
    assert_eq!(breaker["state"], "open");
    let left = breaker["retryAfterSeconds"].as_u64().unwrap();
    assert!(
        retry_after >= left && retry_after <= 30,
        "Retry-After {retry_after} s, then {left} s left of a 30 s period"
    );
}
