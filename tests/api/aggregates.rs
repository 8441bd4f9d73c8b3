//! The aggregates' lifecycle under the router: quarantine after repeated failures (and
//! release), passivation under concurrent commands with a tiny idle time, the cap on live
//! aggregates, and bounded mailboxes. Each reads counters and gauges as absolute values, so
//! each runs the binary (the metrics recorder is global to a process).

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn change_number(app: &TestApp, id: u64, number: &str) -> reqwest::Response {
    app.change(id, &json!({"number": number}), None).await
}

async fn release(app: &TestApp, id: u64) -> Value {
    let r = app.release(id).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn an_aggregate_that_keeps_failing_is_quarantined_alone_until_released() {
    let app = spawn_process_with(&["--test-hooks", "--quarantine-failures", "3"]).await;
    let bad = app.register_ok("qa", VISA).await.id();
    let good = app.register_ok("qb", VISA).await.id();
    let restarts = r#"paytree_actor_restarts_total{actor="paymethod"}"#;
    for n in 1..=3 {
        let r = app
            .post_raw(&format!("/admin/test/panic/paymethods/{bad}"), None, "")
            .await;
        assert_eq!(r.status(), 202);
        // Wait for this failure to be seen, so the next panic reaches a new incarnation.
        let mut seen = 0.0;
        for _ in 0..100 {
            seen = metric(&app, restarts).await;
            if seen >= n as f64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, n as f64);
    }
    let r = change_number(&app, bad, MASTERCARD).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 503, "aggregate-quarantined").await;
    assert_eq!(app.version(bad).await, 1, "nothing was stored for it");
    // Every other aggregate keeps working, and reads of the quarantined one still answer.
    assert_eq!(change_number(&app, good, MASTERCARD).await.status(), 200);
    assert_eq!(app.register("qc", "card", VISA).await.status(), 201);
    assert_eq!(app.get_paymethod(bad).await.status(), 200);
    assert_eq!(
        metric(&app, r#"paytree_quarantines_total{actor="paymethod"}"#).await,
        1.0
    );
    assert_eq!(
        metric(&app, "paytree_aggregates_quarantined{kind=\"paymethod\"}").await,
        1.0
    );

    let r: Value = release(&app, bad).await;
    assert_eq!(r, json!({"id": bad, "wasQuarantined": true}));
    assert_eq!(change_number(&app, bad, MASTERCARD).await.status(), 200);
    assert_eq!(app.version(bad).await, 2);
    let r: Value = release(&app, bad).await;
    assert_eq!(r["wasQuarantined"], false);
    assert_problem(app.release(999_999).await, 404, "not-found").await;
    assert_eq!(
        metric(&app, "paytree_aggregates_quarantined{kind=\"paymethod\"}").await,
        0.0
    );
}

#[tokio::test]
async fn passivation_with_a_tiny_idle_time_loses_none_of_ten_thousand_commands() {
    let app = spawn_process_with(&["--passivate-after-ms", "1"]).await;
    const METHODS: usize = 40;
    const CLIENTS: usize = 8;
    const COMMANDS: usize = 10_000;
    let mut ids = Vec::new();
    for m in 0..METHODS {
        ids.push(app.register_ok(&format!("pv{m}"), VISA).await.id());
    }
    let activations_before = metric(
        &app,
        "paytree_aggregate_activations_total{kind=\"paymethod\"}",
    )
    .await;
    let workers = (0..CLIENTS)
        .map(|c| {
            let app = TestApp::handle(&app);
            let ids = ids.clone();
            tokio::spawn(async move {
                let mut ok = 0usize;
                for n in 0..COMMANDS / CLIENTS {
                    // Clients overlap on the same aggregates, so commands meet draining ones.
                    let id = ids[(n * 7 + c * 3) % ids.len()];
                    let number = if n % 2 == 0 { MASTERCARD } else { VISA };
                    let r = change_number(&app, id, number).await;
                    assert_eq!(r.status(), 200, "command {n} of client {c}");
                    ok += 1;
                }
                ok
            })
        })
        .collect::<Vec<_>>();
    let mut acknowledged = 0;
    for w in workers {
        acknowledged += w.await.unwrap();
    }
    assert_eq!(acknowledged, COMMANDS);
    // Every acknowledged change is a version step (a change to the same number is a no-op
    // and records nothing, so count events instead of assuming each one changed).
    let mut versions = 0;
    for id in &ids {
        versions += app.version(*id).await - 1;
    }
    let mut events = 0;
    for m in 0..METHODS {
        let page = app.mypage(&format!("pv{m}"), None).await;
        events += page["paymentMethods"][0]["version"].as_u64().unwrap() - 1;
    }
    assert_eq!(events, versions, "the views saw every change");
    assert!(versions > 0 && versions <= COMMANDS as u64);
    let changed = metric(
        &app,
        r#"paytree_http_requests_total{method="PATCH",route="/paymethods/{id}",status="200"}"#,
    )
    .await;
    assert_eq!(changed as usize, COMMANDS);
    let passivations = metric(
        &app,
        r#"paytree_aggregate_passivations_total{kind="paymethod",reason="idle"}"#,
    )
    .await;
    let activations = metric(
        &app,
        "paytree_aggregate_activations_total{kind=\"paymethod\"}",
    )
    .await
        - activations_before;
    assert!(
        passivations > 100.0 && activations > 100.0,
        "aggregates really were passivated and reactivated: {passivations} passivations, {activations} activations"
    );
}

#[tokio::test]
async fn at_most_the_configured_number_of_aggregates_stay_live() {
    let app = spawn_process_with(&["--max-live-aggregates", "5"]).await;
    let mut ids = Vec::new();
    for m in 0..30 {
        ids.push(app.register_ok(&format!("lru{m}"), VISA).await.id());
    }
    for id in &ids {
        assert_eq!(change_number(&app, *id, MASTERCARD).await.status(), 200);
    }
    for id in &ids {
        assert_eq!(
            app.version(*id).await,
            2,
            "no command was lost to an eviction"
        );
    }
    let mut live = f64::MAX;
    for _ in 0..50 {
        live = metric(&app, "paytree_aggregates_live{kind=\"paymethod\"}").await;
        if live <= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(live <= 5.0, "{live} aggregates live");
    let evicted = metric(
        &app,
        r#"paytree_aggregate_passivations_total{kind="paymethod",reason="lru"}"#,
    )
    .await;
    assert!(evicted >= 50.0, "{evicted} evictions");
    assert!(
        metric(
            &app,
            "paytree_aggregate_rehydration_seconds_count{kind=\"paymethod\"}"
        )
        .await
            >= 25.0
    );
}

#[tokio::test]
async fn a_full_mailbox_answers_503_with_retry_after_instead_of_queueing() {
    let provider = spawn_provider().await;
    let app = spawn_process_with(&[
        "--provider",
        &provider.address.clone(),
        "--aggregate-mailbox",
        "2",
    ])
    .await;
    let id = app.register_ok("mb", VISA).await.id();
    provider.set_faults(json!({"latencyMs": 300})).await;
    let sends = (0..10)
        .map(|n| {
            let app = TestApp::handle(&app);
            tokio::spawn(async move {
                let number = if n % 2 == 0 { MASTERCARD } else { VISA };
                let r = change_number(&app, id, number).await;
                let retry_after = r.headers().contains_key("retry-after");
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, retry_after, body)
            })
        })
        .collect::<Vec<_>>();
    let mut ok = 0;
    let mut busy = 0;
    for s in sends {
        let (status, retry_after, body) = s.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                assert_eq!(body["type"], "/problems/aggregate-busy");
                assert!(retry_after);
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy > 0, "the bound was reached: {ok} ok");
    assert!(ok >= 2, "queued commands ran");
    assert!(
        app.version(id).await <= 1 + ok,
        "nothing refused was stored"
    );
    assert_eq!(
        metric(&app, "paytree_mailbox_rejections_total{kind=\"paymethod\"}").await,
        busy as f64
    );
}
