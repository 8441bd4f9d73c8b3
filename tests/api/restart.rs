use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn a_restart_keeps_every_registered_method_and_never_reuses_an_id() {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &[]).await;
    let mut before = Vec::new();
    for i in 0..20 {
        let m = app.register_ok(&format!("cust-{}", i % 3), VISA).await;
        before.push(m);
    }
    let changed = before[0].id();
    assert_eq!(
        app.change(changed, &serde_json::json!({"number": MASTERCARD}), None)
            .await
            .status(),
        200
    );
    let status = app.stop().await;
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");

    let app = start_serve(&dir, &[]).await;
    for m in &before {
        let id = m.id();
        let stored: Value = app.paymethod(id).await;
        if id == changed {
            assert_eq!(stored["version"], 2);
            assert_eq!(stored["last4"], "4444");
        } else {
            assert_eq!(&stored, m);
        }
    }
    let mut count = 0;
    for i in 0..3 {
        count += app.list(&format!("cust-{i}")).await.items().len();
    }
    assert_eq!(count, 20);
    let max = before.iter().map(|m| m.id()).max().unwrap();
    assert!(app.register_ok("cust-new", VISA).await.id() > max);
}

fn live_aggregates(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("paytree_aggregates_live{kind=\"paymethod\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1.0)
}

#[tokio::test]
async fn idle_aggregates_are_passivated_and_come_back_from_the_store_on_the_next_command() {
    // It reads the live-aggregates gauge: a process of its own.
    let app = spawn_process_with(&["--passivate-after-ms", "50"]).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(app.register_ok("xena", VISA).await.id());
    }
    let mut live = f64::MAX;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        live = live_aggregates(&app.metrics().await);
        if live == 0.0 {
            break;
        }
    }
    assert_eq!(live, 0.0, "every idle aggregate stopped");
    // Changes racing the passivation timer: none is lost or answered wrongly.
    let mut handles = Vec::new();
    for (round, id) in ids.iter().cycle().take(40).enumerate() {
        let client = app.client.clone();
        let url = app.url(&format!("/paymethods/{id}"));
        let number = if (round / 10) % 2 == 0 {
            MASTERCARD
        } else {
            VISA
        };
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis((round as u64 % 4) * 25)).await;
            client
                .patch(url)
                .json(&serde_json::json!({"number": number}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 200);
    }
    for id in &ids {
        let m = app.paymethod(*id).await;
        assert!(m["version"].as_u64().unwrap() >= 2, "{m}");
    }
}
