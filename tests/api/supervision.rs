//! Forced panics (through `--test-hooks`) in the notifier and the projector: the supervisor
//! restarts them from their checkpoints, commands keep working, nothing is lost or doubled.

use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn panics_in_the_notifier_and_the_projector_lose_nothing() {
    // It reads the restart counters: a process of its own.
    let app = spawn_process_with(&["--test-hooks"]).await;
    let mut clients = Vec::new();
    for c in 0..4 {
        let app = TestApp::handle(&app);
        clients.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for _ in 0..60 {
                let r = app.register(&format!("p{c}"), "card", VISA).await;
                assert_eq!(r.status(), 201, "commands keep working meanwhile");
                positions.push(position(&r));
            }
            positions
        }));
    }
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        for actor in ["notifier", "projector"] {
            let r = app
                .post_raw(&format!("/admin/test/panic/{actor}"), None, "")
                .await;
            // Between a panic and the restart there is no actor to tell (503).
            assert!(
                [202, 503].contains(&r.status().as_u16()),
                "round {round}: {}",
                r.status()
            );
        }
    }
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    let head = *acknowledged.iter().max().unwrap();

    let mut per_event: BTreeMap<u64, usize> = BTreeMap::new();
    for c in 0..4 {
        let customer = format!("p{c}");
        for m in wait_for_messages(&app, &customer, 60).await {
            *per_event.entry(m["eventId"].as_u64().unwrap()).or_default() += 1;
        }
        let page = app.mypage(&customer, Some(head)).await;
        assert_eq!(page["paymentMethods"], app.list(&customer).await["items"]);
        assert_eq!(page["paymentMethods"].as_array().unwrap().len(), 60);
    }
    acknowledged.sort();
    assert_eq!(per_event.keys().copied().collect::<Vec<_>>(), acknowledged);
    assert!(per_event.values().all(|n| *n == 1));

    let metrics = app.metrics().await;
    for actor in ["notifier", "projector"] {
        let restarts = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "paytree_actor_restarts_total{{actor=\"{actor}\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(restarts >= 1.0, "{actor} was restarted ({restarts})");
    }
    let ready = app.ready().await;
    assert_eq!(ready.status(), 200);
    let _: Value = ready.json().await.unwrap();
}

#[tokio::test]
async fn test_hooks_are_not_served_without_the_flag() {
    let app = spawn_app().await;
    let r = app.post_raw("/admin/test/panic/notifier", None, "").await;
    assert_problem(r, 404, "not-found").await;
}
