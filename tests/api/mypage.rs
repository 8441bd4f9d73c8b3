//! The mypage projection: what it shows, read-your-writes, and that it is the fold of the
//! event log (a rebuild from an empty view table gives the same views).

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test]
async fn mypage_shows_current_methods_and_newest_messages_first() {
    let app = spawn_app().await;
    let kept = app.register_ok("gina", MASTERCARD).await;
    let r = app.register("gina", "card", VISA).await;
    let id = r.json::<Value>().await.unwrap().id();
    app.change(id, &json!({"kind": "bank", "number": BANK}), None)
        .await;
    let last = position(&app.remove(id, None).await);

    let page = app.mypage("gina", Some(last)).await;
    assert_eq!(page["customerId"], "gina");
    assert!(page["position"].as_u64().unwrap() >= last);
    assert_eq!(page["paymentMethods"], json!([kept]));
    let types: Vec<&str> = page["recentMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "PaymentMethodRemoved",
            "PaymentMethodChanged",
            "PaymentMethodRegistered",
            "PaymentMethodRegistered"
        ]
    );
    assert_eq!(page["recentMessages"][0]["eventId"], last);

    let nobody = app.mypage("nobody", None).await;
    assert_eq!(nobody["paymentMethods"], json!([]));
    assert_eq!(nobody["recentMessages"], json!([]));
    assert_problem(
        app.get("/mypages/not%20valid").await,
        400,
        "invalid-request",
    )
    .await;
    let ahead = format!("/mypages/gina?minPosition={}", last + 1);
    assert_problem(app.get(&ahead).await, 400, "invalid-request").await;
}

#[tokio::test]
async fn read_your_writes_holds_a_thousand_times_in_a_row() {
    let app = spawn_app().await;
    let mut id = 0;
    for i in 0..1_000u64 {
        // Registrations and changes alternate; each read comes straight after the command,
        // once, with the command's position: no polling.
        let (r, expect_version) = if i % 2 == 0 {
            (app.register("hana", "card", VISA).await, 1)
        } else {
            (
                app.change(id, &json!({"number": MASTERCARD}), None).await,
                2,
            )
        };
        assert!(r.status().is_success(), "command {i}: {}", r.status());
        let at = position(&r);
        let method: Value = r.json().await.unwrap();
        id = method.id();
        let page = app.mypage("hana", Some(at)).await;
        let shown = page["paymentMethods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("read {i}: method {id} is not on the page"));
        assert_eq!(shown, &method, "read {i}");
        assert_eq!(shown["version"], expect_version, "read {i}");
        assert_eq!(page["recentMessages"][0]["eventId"], at, "read {i}");
    }
}

/// Runs `commands` register/change/remove/declined commands over `customers` customers from
/// 8 concurrent clients; returns the highest position acknowledged.
async fn mixed_workload(app: &TestApp, customers: usize, commands: usize) -> u64 {
    let per_client = commands / 8;
    let mut clients = Vec::new();
    for c in 0..8 {
        let app = TestApp::handle(app);
        clients.push(tokio::spawn(async move {
            let mut mine: Vec<u64> = Vec::new();
            let mut highest = 0;
            for i in 0..per_client {
                let customer = format!("c{}", (c * per_client + i) % customers);
                let r = match (i % 7, mine.last().copied()) {
                    (3 | 5, Some(id)) => {
                        let number = if i % 2 == 0 { MASTERCARD } else { BANK };
                        let kind = if number == BANK { "bank" } else { "card" };
                        app.change(id, &json!({"kind": kind, "number": number}), None)
                            .await
                    }
                    (6, Some(id)) => {
                        mine.pop();
                        app.remove(id, None).await
                    }
                    (4, _) => app.register(&customer, "card", DECLINED).await,
                    _ => app.register(&customer, "card", VISA).await,
                };
                match r.status().as_u16() {
                    200 | 201 | 204 => {
                        highest = highest.max(position(&r));
                        if r.status() == 201 {
                            mine.push(r.json::<Value>().await.unwrap().id());
                        }
                    }
                    402 => {}
                    s => panic!("unexpected status {s}"),
                }
            }
            highest
        }));
    }
    let mut highest = 0;
    for client in clients {
        highest = highest.max(client.await.unwrap());
    }
    highest
}

/// Every customer's mypage, read at `at` or later.
async fn all_pages(app: &TestApp, customers: usize, at: u64) -> HashMap<String, Value> {
    let mut pages = HashMap::new();
    for c in 0..customers {
        let customer = format!("c{c}");
        let mut page = app.mypage(&customer, Some(at)).await;
        page.as_object_mut().unwrap().remove("position");
        pages.insert(customer, page);
    }
    pages
}

#[tokio::test]
async fn mypage_equals_the_fold_of_the_event_log_after_a_mixed_workload() {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &[]).await;
    let customers = 50;
    let head = mixed_workload(&app, customers, 1_200).await;
    // 1,200 commands, of which about one in seven is a declined registration (no event).
    assert!(head >= 800, "the workload recorded {head} events");
    for c in 0..customers {
        let customer = format!("c{c}");
        let page = app.mypage(&customer, Some(head)).await;
        // The view equals what the aggregates hold...
        assert_eq!(
            page["paymentMethods"],
            app.list(&customer).await["items"],
            "{customer}"
        );
        // ...and its messages are the newest of the inbox, newest first.
        let inbox = wait_for_messages(
            &app,
            &customer,
            page["recentMessages"].as_array().unwrap().len(),
        )
        .await;
        let newest: Vec<Value> = inbox.iter().rev().take(20).cloned().collect();
        assert_eq!(page["recentMessages"], json!(newest), "{customer}");
    }
    let before = all_pages(&app, customers, head).await;

    // From scratch: an empty view table and checkpoint, the whole log folded again.
    assert!(app.stop().await.success());
    let mut app = start_serve(&dir, &["--rebuild-views"]).await;
    let rebuilt = all_pages(&app, customers, head).await;
    assert_eq!(rebuilt, before);
    assert!(app.log().contains("mypage views emptied"));

    // And read back from the stored rows alone (nothing in memory after a plain restart).
    assert!(app.stop().await.success());
    let app = start_serve(&dir, &[]).await;
    assert_eq!(all_pages(&app, customers, head).await, before);
}
