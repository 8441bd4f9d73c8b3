//! Orders (seed 004), black-box: each row of the outcome table of `POST /orders`, what a
//! refused order leaves behind (nothing), reading and listing, and the payment records.

use crate::helpers::*;
use serde_json::{Value, json};

/// The charge records of a customer.
async fn charges(app: &TestApp, customer: &str) -> Vec<Value> {
    app.payments_of(customer).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["purpose"] == "charge")
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_approved_charge_places_the_order_with_its_charge_and_its_event_in_one_commit() {
    let app = spawn_app().await;
    let card = app.shopper("alice").await;
    app.stock("cap-black", 12_000, true).await;
    let body = order_body("alice", card, &[(TEE, 2), ("cap-black", 1)]);
    let r = app.order(&body).await;
    assert_eq!(r.status(), 201);
    let position = position(&r);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let order: Value = r.json().await.unwrap();
    assert_eq!(location, format!("/orders/{}", order.id()));
    assert_eq!(etag, "\"1\"");
    assert_eq!(order["status"], "placed");
    assert_eq!(order["total"], 50_000);
    assert_eq!(order["currency"], "KRW");
    assert_eq!(order["items"][0]["amount"], 38_000);
    assert_eq!(order["items"][1]["unitPrice"], 12_000);
    assert_eq!(order["items"][0]["name"], "tee-white-m name");
    assert_eq!(order["shippingAddress"]["country"], "KR");
    assert!(order["shippingAddress"]["line2"].is_null());
    assert!(order["cancellation"].is_null());
    assert!(order["refundPaymentId"].is_null());

    let charges = charges(&app, "alice").await;
    assert_eq!(charges.len(), 1);
    let charge = &charges[0];
    assert_eq!(charge["id"], order["paymentId"]);
    assert_eq!(charge["orderId"], order["id"]);
    assert_eq!(charge["paymethodId"], card);
    assert_eq!(
        (charge["amount"].as_u64(), &charge["status"]),
        (Some(50_000), &json!("approved"))
    );

    // The same order, read and listed; the view and the message follow from the event.
    assert_eq!(app.get_order(order.id()).await["total"], 50_000);
    let listed = app.ok_json("/orders?customerId=alice").await;
    assert_eq!(listed.items().len(), 1);
    let page = app.mypage("alice", Some(position)).await;
    assert_eq!(page["orders"][0]["id"], order["id"]);
    assert_eq!(page["orders"][0]["status"], "placed");
    let messages = wait_for_messages(&app, "alice", 2).await;
    let placed = messages
        .iter()
        .find(|m| m["type"] == "OrderPlaced")
        .unwrap();
    assert_eq!(placed["orderId"], order["id"]);
    assert!(placed["paymethodId"].is_null());
    assert_eq!(
        placed["text"],
        format!(
            "Your order #{} was placed and 50,000 KRW charged.",
            order.id()
        )
    );
}

#[tokio::test]
async fn a_card_whose_charges_are_declined_gets_402_no_order_and_a_kept_declined_charge() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address]).await;
    app.stock(TEE, 19_000, true).await;
    let card = app.register_ok("alice", CHARGES_DECLINED).await.id();
    let r = app.order(&order_body("alice", card, &[(TEE, 1)])).await;
    let problem = assert_problem(r, 402, "payment-declined").await;
    let payment = problem["paymentId"].as_u64().unwrap();
    let declined: Value = app.payment(&json!(payment)).await.json().await.unwrap();
    assert_eq!(declined["purpose"], "charge");
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["amount"], 19_000);
    assert!(declined["orderId"].is_null());
    assert!(
        app.ok_json("/orders?customerId=alice")
            .await
            .items()
            .is_empty()
    );
    let ledger = provider.ledger().await;
    let charge = ledger["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["amount"] == 19_000)
        .unwrap();
    assert_eq!(charge["status"], "declined");
}

#[tokio::test]
async fn with_the_payment_system_down_an_order_gets_503_and_nothing_is_stored() {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address]).await;
    let card = app.shopper("alice").await;
    provider.set_faults(json!({"down": true})).await;
    let r = app.order(&order_body("alice", card, &[(TEE, 1)])).await;
    assert!(retry_after(&r) >= 1);
    assert_problem(r, 503, "payment-unavailable").await;
    assert!(
        app.ok_json("/orders?customerId=alice")
            .await
            .items()
            .is_empty()
    );
    assert!(charges(&app, "alice").await.is_empty());
}

#[tokio::test]
async fn every_invalid_order_is_422_naming_its_fields_and_stores_nothing() {
    let app = spawn_app().await;
    let card = app.shopper("alice").await;
    let bobs = app.register_ok("bob", VISA).await.id();
    let removed = app.register_ok("alice", MASTERCARD).await.id();
    assert_eq!(app.remove(removed, None).await.status(), 204);
    app.stock("old-socks", 3_000, false).await;
    let line = |sku: &str, q: u32| order_body("alice", card, &[(sku, q)]);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = line(TEE, 1);
        f(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (line("old-socks", 1), "items[0].sku"),
        (line("no-such-thing", 1), "items[0].sku"),
        (line(TEE, 0), "items[0].quantity"),
        (line(TEE, 100), "items[0].quantity"),
        (order_body("alice", bobs, &[(TEE, 1)]), "paymethodId"),
        (order_body("alice", removed, &[(TEE, 1)]), "paymethodId"),
        (order_body("alice", 999_999, &[(TEE, 1)]), "paymethodId"),
        (order_body("alice", card, &[(TEE, 1); 51]), "items"),
        (order_body("alice", card, &[]), "items"),
        (
            with(&|b| b["shippingAddress"]["country"] = json!("Korea")),
            "shippingAddress.country",
        ),
        (
            with(&|b| b["shippingAddress"]["name"] = json!("")),
            "shippingAddress.name",
        ),
        (
            with(&|b| b["shippingAddress"]["city"] = json!("x".repeat(101))),
            "shippingAddress.city",
        ),
        (
            with(&|b| b["shippingAddress"]["line2"] = json!("\u{7}")),
            "shippingAddress.line2",
        ),
        (with(&|b| b["paymethodId"] = json!(0)), "paymethodId"),
    ];
    for (body, field) in &cases {
        let r = app.order(body).await;
        let problem = assert_problem(r, 422, "validation-failed").await;
        assert!(
            failed_fields(&problem).contains(field),
            "{field} not named for {body}: {problem}"
        );
    }
    // A total past 100,000,000 KRW.
    app.stock("gold", 100_000_000, true).await;
    let r = app.order(&order_body("alice", card, &[("gold", 2)])).await;
    let problem = assert_problem(r, 422, "validation-failed").await;
    assert_eq!(failed_fields(&problem), ["items"]);
    // Every failing field at once.
    let r = app
        .order(&order_body(
            "alice",
            bobs,
            &[("no-such-thing", 1), (TEE, 1)],
        ))
        .await;
    let problem = assert_problem(r, 422, "validation-failed").await;
    assert_eq!(failed_fields(&problem), ["paymethodId", "items[0].sku"]);

    assert!(
        app.ok_json("/orders?customerId=alice")
            .await
            .items()
            .is_empty()
    );
    assert!(
        charges(&app, "alice").await.is_empty(),
        "nothing was charged"
    );
    assert_eq!(app.ok_json("/shipments").await.items().len(), 0);
}

#[tokio::test]
async fn malformed_orders_are_400() {
    let app = spawn_app().await;
    let card = app.shopper("alice").await;
    let mut unknown = order_body("alice", card, &[(TEE, 1)]);
    unknown["coupon"] = json!("FREE");
    assert_problem(app.order(&unknown).await, 400, "invalid-request").await;
    let mut wrong_type = order_body("alice", card, &[(TEE, 1)]);
    wrong_type["items"][0]["quantity"] = json!("two");
    assert_problem(app.order(&wrong_type).await, 400, "invalid-request").await;
    let mut missing = order_body("alice", card, &[(TEE, 1)]);
    missing.as_object_mut().unwrap().remove("shippingAddress");
    assert_problem(app.order(&missing).await, 400, "invalid-request").await;
    assert!(
        app.ok_json("/orders?customerId=alice")
            .await
            .items()
            .is_empty()
    );
}

#[tokio::test]
async fn an_order_repeated_with_its_idempotency_key_is_charged_once_and_answered_again() {
    let app = spawn_app().await;
    let card = app.shopper("alice").await;
    let body = order_body("alice", card, &[(TEE, 1)]);
    let send = |body: Value| {
        let app = app.clone();
        async move {
            app.client
                .post(app.url("/orders"))
                .header("idempotency-key", "order-k1")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send(body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(charges(&app, "alice").await.len(), 1, "charged once");
    let other = order_body("alice", card, &[(TEE, 2)]);
    assert_problem(send(other).await, 422, "idempotency-mismatch").await;
    assert_eq!(
        app.ok_json("/orders?customerId=alice").await.items().len(),
        1
    );
}

#[tokio::test]
async fn a_customer_orders_for_itself_only_and_another_customers_order_is_not_found() {
    let admin = spawn_app().await;
    let card = admin.shopper("alice").await;
    let bob_card = admin.register_ok("bob", VISA).await.id();
    let alice = admin.as_role("customer", Some("alice")).await;
    let bob = admin.as_role("customer", Some("bob")).await;
    let seller = admin.as_role("seller", None).await;
    let mut mine = order_body("alice", card, &[(TEE, 1)]);
    mine.as_object_mut().unwrap().remove("customerId");
    let r = alice.order(&mine).await;
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.unwrap();
    assert_eq!(order["customerId"], "alice");
    assert_problem(
        bob.order(&order_body("alice", bob_card, &[(TEE, 1)])).await,
        403,
        "forbidden",
    )
    .await;

    let theirs = bob.get(&format!("/orders/{}", order.id())).await;
    let unknown = bob.get("/orders/999999").await;
    assert_eq!(theirs.status(), 404);
    assert_eq!(theirs.text().await.unwrap(), unknown.text().await.unwrap());
    assert_problem(bob.cancel(order.id()).await, 404, "not-found").await;
    assert_eq!(
        admin.get_order(order.id()).await["status"],
        "placed",
        "not cancelled"
    );
    assert_problem(bob.get("/orders?customerId=alice").await, 403, "forbidden").await;

    // Sellers read orders and ship; they place and cancel none.
    assert_eq!(
        seller
            .get(&format!("/orders/{}", order.id()))
            .await
            .status(),
        200
    );
    assert_problem(
        seller.order(&order_body("alice", card, &[(TEE, 1)])).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(seller.cancel(order.id()).await, 403, "forbidden").await;
    assert_problem(alice.get("/shipments").await, 403, "forbidden").await;
}
