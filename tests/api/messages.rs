use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn register_change_and_remove_give_exactly_three_messages_in_order_with_masked_text() {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &[]).await;
    let r = app.register("emma", "card", VISA).await;
    let registered = position(&r);
    let id = r.json::<Value>().await.unwrap().id();
    let changed = position(
        &app.change(id, &json!({"kind": "bank", "number": BANK}), None)
            .await,
    );
    let removed = position(&app.remove(id, None).await);

    let messages = wait_for_messages(&app, "emma", 3).await;
    let summary: Vec<(u64, &str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["eventId"].as_u64().unwrap(),
                m["type"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                registered,
                "PaymentMethodRegistered",
                "Your card ending 4242 was registered."
            ),
            (
                changed,
                "PaymentMethodChanged",
                "Your card ending 4242 was changed to your bank account ending 6789."
            ),
            (
                removed,
                "PaymentMethodRemoved",
                "Your bank account ending 6789 was removed."
            ),
        ]
    );
    for m in &messages {
        assert_eq!(m["status"], "delivered");
        assert_eq!(m["paymethodId"], id);
        assert_eq!(m["customerId"], "emma");
    }
    let text = serde_json::to_string(&messages).unwrap();
    for number in ["4242424242424242", "110123456789"] {
        assert!(!text.contains(number));
    }

    // A restart resumes from the checkpoint: no message is created twice.
    assert!(app.stop().await.success());
    let app = start_serve(&dir, &[]).await;
    app.register_ok("emma", MASTERCARD).await;
    let after = wait_for_messages(&app, "emma", 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again: Value = app
        .get("/messages?customerId=emma&limit=200")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again.items().len(), 4);
    assert_eq!(after[..3], messages[..]);
}

#[tokio::test]
async fn a_declined_registration_records_no_message() {
    let app = spawn_app().await;
    assert_eq!(app.register("finn", "card", DECLINED).await.status(), 402);
    app.register_ok("finn", VISA).await;
    let messages = wait_for_messages(&app, "finn", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page: Value = app
        .get("/messages?customerId=finn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.items().len(), 1);
    assert_eq!(messages[0]["type"], "PaymentMethodRegistered");
    assert_problem(app.get("/messages").await, 400, "invalid-request").await;
}
