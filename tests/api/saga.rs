//! Shipping and the cancellation saga, black-box: shipping off the order's path (paused, it
//! only falls behind), cancellation before and after shipping, the seller and the customer
//! racing, and a refund that fails for 30 s.

use crate::helpers::*;
use serde_json::{Value, json};

/// The ledger's refunds of `authorization`.
fn refunds_of<'a>(ledger: &'a Value, authorization: &str) -> Vec<&'a Value> {
    ledger["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["authorization"] == authorization)
        .collect()
}

/// The payment system's authorization behind payment record `id`.
async fn authorization_of(app: &TestApp, payment: &Value) -> String {
    let record: Value = app.payment(payment).await.json().await.unwrap();
    record["providerReference"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn cancelling_before_shipping_cancels_the_shipment_and_refunds_the_total_once() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address]).await;
    let card = app.shopper("alice").await;
    let order = app.order_ok("alice", card, 2).await;
    let id = order.id();
    let r = app.cancel(id).await;
    assert_eq!(r.status(), 202);
    let cancelling: Value = r.json().await.unwrap();
    assert_eq!(cancelling["status"], "cancelling");
    assert_eq!(cancelling["cancellation"]["refundAttempts"], 0);
    assert!(cancelling["cancellation"]["outcome"].is_null());

    let cancelled = app.order_in(id, "cancelled").await;
    assert_eq!(cancelled["cancellation"]["outcome"], "refunded");
    let refund: Value = app
        .payment(&cancelled["refundPaymentId"])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refund["purpose"], "refund");
    assert_eq!(refund["amount"], 38_000);
    assert_eq!(refund["orderId"], id);
    // The same, asked again: answered as it is, nothing more refunded.
    let again = app.cancel(id).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "cancelled");

    let shipment = app.shipment_of(id).await;
    let shipment = app.ok_json(&format!("/shipments/{shipment}")).await;
    assert_eq!(shipment["status"], "cancelled");
    assert_problem(app.ship(shipment.id()).await, 409, "shipment-cancelled").await;

    let authorization = authorization_of(&app, &order["paymentId"]).await;
    let ledger = provider.ledger().await;
    let refunds = refunds_of(&ledger, &authorization);
    assert_eq!(refunds.len(), 1, "one refund at the payment system");
    assert_eq!(refunds[0]["amount"], 38_000);

    let messages = wait_for_messages(&app, "alice", 3).await;
    let types: Vec<&str> = messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["PaymentMethodRegistered", "OrderPlaced", "OrderCancelled"]
    );
    assert_eq!(
        messages[2]["text"],
        format!("Your order #{id} was cancelled and 38,000 KRW refunded.")
    );
    let page = app.mypage("alice", None).await;
    assert_eq!(page["orders"][0]["status"], "cancelled");
}

#[tokio::test]
async fn once_shipped_an_order_cannot_be_cancelled_and_shipping_again_changes_nothing() {
    let app = spawn_app().await;
    let card = app.shopper("alice").await;
    let id = app.order_ok("alice", card, 1).await.id();
    let shipment = app.shipment_of(id).await;
    let r = app.ship(shipment).await;
    assert_eq!(r.status(), 200);
    let shipped: Value = r.json().await.unwrap();
    assert_eq!(shipped["status"], "shipped");
    assert_eq!(shipped["carrier"], "CJ");
    let order = app.order_in(id, "shipped").await;
    assert!(order["refundPaymentId"].is_null());
    assert!(order["cancellation"].is_null());
    assert_problem(app.cancel(id).await, 409, "order-already-shipped").await;
    let again = app.ship(shipment).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["shippedAt"], shipped["shippedAt"], "unchanged");
    let messages = wait_for_messages(&app, "alice", 3).await;
    assert_eq!(messages[2]["type"], "OrderShipped");
    assert_problem(app.ship(999_999).await, 404, "not-found").await;
    let bad = app
        .post_json(
            &format!("/shipments/{shipment}/ship"),
            &json!({"carrier": "", "trackingNumber": "1"}),
        )
        .await;
    let problem = assert_problem(bad, 422, "validation-failed").await;
    assert_eq!(failed_fields(&problem), ["carrier"]);
}

#[tokio::test]
async fn with_shipping_paused_a_hundred_orders_are_placed_and_resumed_it_makes_exactly_a_hundred_shipments()
 {
    let app = spawn_app().await;
    let card = app.shopper("alice").await;
    app.set_shipping(true).await;
    let mut orders = Vec::new();
    for _ in 0..100 {
        orders.push(app.order_ok("alice", card, 1).await.id());
    }
    // One of them cancelled meanwhile: its shipment is made cancelled, not twice.
    assert_eq!(app.cancel(orders[0]).await.status(), 202);
    app.order_in(orders[0], "cancelled").await;
    let shipments = app.all_items("/shipments").await;
    assert_eq!(
        shipments.len(),
        1,
        "only the cancelled order's: {shipments:?}"
    );
    assert_eq!(shipments[0]["status"], "cancelled");
    assert!(app.get_order(orders[1]).await["shipmentId"].is_null());

    app.set_shipping(false).await;
    for &id in &orders {
        app.shipment_of(id).await;
    }
    let shipments = app.all_items("/shipments").await;
    assert_eq!(shipments.len(), 100);
    let mut of_orders: Vec<u64> = shipments
        .iter()
        .map(|s| s["orderId"].as_u64().unwrap())
        .collect();
    of_orders.sort_unstable();
    of_orders.dedup();
    assert_eq!(of_orders.len(), 100, "one shipment per order");
    let pending = app.all_items("/shipments?status=pending").await;
    assert_eq!(pending.len(), 99);
    let audit = app.audit().await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"shipping.paused") && actions.contains(&"shipping.resumed"));
}

#[tokio::test]
async fn a_pause_outlives_a_restart() {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &[]).await;
    let card = app.shopper("alice").await;
    app.set_shipping(true).await;
    let first = app.order_ok("alice", card, 1).await.id();
    assert!(app.stop().await.success());
    let app = start_serve(&dir, &[]).await;
    let second = app.order_ok("alice", card, 1).await.id();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.all_items("/shipments").await.is_empty(), "still paused");
    assert_eq!(metric(&app, "paytree_shipping_paused").await, 1.0);
    app.set_shipping(false).await;
    app.shipment_of(first).await;
    app.shipment_of(second).await;
    assert_eq!(metric(&app, "paytree_shipping_paused").await, 0.0);
}

#[tokio::test]
async fn two_hundred_orders_shipped_and_cancelled_at_once_end_shipped_without_refund_or_cancelled_with_one()
 {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address]).await;
    let card = app.shopper("alice").await;
    let mut orders = Vec::new();
    for _ in 0..200 {
        let order = app.order_ok("alice", card, 1).await;
        orders.push(order);
    }
    let mut shipments = Vec::new();
    for order in &orders {
        shipments.push(app.shipment_of(order.id()).await);
    }
    // The cancel goes first, the seller 0–1.5 s later: a cancellation takes a few commits to
    // reach the shipment (100–300 ms with 200 at once on 2 cores, debug build), so some
    // orders are shipped first and some cancelled first. With replicas it also crosses the
    // bus to the saga's replica and back (seconds for 200 at once): the seller waits up to
    // 6 s then.
    let spread = if replicas::count() > 1 { 60 } else { 15 };
    let mut races = Vec::new();
    for (i, (order, &shipment)) in orders.iter().zip(&shipments).enumerate() {
        let (seller, customer) = (app.clone(), app.clone());
        let id = order.id();
        let lag = std::time::Duration::from_millis(i as u64 % 100 * spread);
        races.push(tokio::spawn(async move {
            let ship = async {
                tokio::time::sleep(lag).await;
                seller.ship(shipment).await
            };
            let (shipped, cancelled) = tokio::join!(ship, customer.cancel(id));
            (shipped.status().as_u16(), cancelled.status().as_u16())
        }));
    }
    for race in races {
        let (shipped, cancelled) = race.await.unwrap();
        assert!(matches!(shipped, 200 | 409), "ship answered {shipped}");
        assert!(
            matches!(cancelled, 202 | 409),
            "cancel answered {cancelled}"
        );
    }
    let mut ends = Vec::new();
    for order in &orders {
        let end = app
            .order_when(order.id(), "an end", |o| {
                o["status"] == "shipped" || o["status"] == "cancelled"
            })
            .await;
        ends.push(end);
    }
    let ledger = provider.ledger().await;
    let (mut shipped, mut cancelled) = (0, 0);
    for ((order, end), &shipment) in orders.iter().zip(&ends).zip(&shipments) {
        let shipment = app.ok_json(&format!("/shipments/{shipment}")).await;
        let authorization = authorization_of(&app, &order["paymentId"]).await;
        let refunds = refunds_of(&ledger, &authorization).len();
        if end["status"] == "shipped" {
            shipped += 1;
            assert!(end["refundPaymentId"].is_null(), "{end}");
            assert_eq!(shipment["status"], "shipped");
            assert_eq!(refunds, 0, "a shipped order is never refunded: {end}");
        } else {
            cancelled += 1;
            assert!(end["refundPaymentId"].is_u64(), "{end}");
            assert_eq!(shipment["status"], "cancelled");
            assert_eq!(refunds, 1, "a cancelled order is refunded once: {end}");
        }
    }
    assert_eq!(shipped + cancelled, 200);
    println!("200 races: {shipped} shipped, {cancelled} cancelled");
    assert!(
        shipped > 0 && cancelled > 0,
        "both ends must happen for this to test the race"
    );
}

#[tokio::test]
async fn a_refund_failing_for_thirty_seconds_is_retried_and_completes_once_the_payment_system_is_back()
 {
    let provider = spawn_provider().await;
    // The saga's gauge is read: a process of its own.
    let app = spawn_process_with(&["--provider", &provider.address]).await;
    let card = app.shopper("alice").await;
    let bob = app.register_ok("bob", VISA).await.id();
    let order = app.order_ok("alice", card, 1).await;
    let id = order.id();
    app.shipment_of(id).await;
    provider.set_faults(json!({"down": true})).await;
    assert_eq!(app.cancel(id).await.status(), 202);
    let failing = app
        .order_when(id, "a failed refund", |o| {
            o["cancellation"]["refundAttempts"].as_u64() >= Some(2)
        })
        .await;
    assert_eq!(failing["status"], "cancelling");
    assert!(failing["cancellation"]["lastError"].is_string());
    assert_eq!(
        metric(&app, "paytree_saga_pending{step=\"refund\"}").await,
        1.0
    );
    // Meanwhile every other order is answered at once: 503, nothing stored.
    for _ in 0..5 {
        let r = app.order(&order_body("bob", bob, &[(TEE, 1)])).await;
        assert_problem(r, 503, "payment-unavailable").await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    assert_eq!(
        app.get_order(id).await["status"],
        "cancelling",
        "still retried"
    );
    provider.set_faults(json!({})).await;
    let cancelled = app.order_in_within(id, "cancelled", 90).await;
    assert!(
        cancelled["cancellation"]["refundAttempts"]
            .as_u64()
            .unwrap()
            >= 2
    );
    // The step leaves the saga's queue just after the order's commit.
    let mut pending = f64::MAX;
    for _ in 0..100 {
        pending = metric(&app, "paytree_saga_pending{step=\"refund\"}").await;
        if pending == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0.0, "the refund step is done");
    let authorization = authorization_of(&app, &order["paymentId"]).await;
    assert_eq!(
        refunds_of(&provider.ledger().await, &authorization).len(),
        1
    );
    // Orders work again.
    app.order_ok("bob", bob, 1).await;
}
