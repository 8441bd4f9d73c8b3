use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn listing_pages_through_a_customers_methods_in_id_order() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.register_ok("quinn", VISA).await.id());
        app.register_ok("someone-else", VISA).await;
    }
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = app
            .get(&format!(
                "/paymethods?customerId=quinn&limit=2&after={after}"
            ))
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|m| m.id()));
        assert!(items.iter().all(|m| m["customerId"] == "quinn"));
        match page["nextAfter"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let all: Value = app
        .get("/paymethods?customerId=quinn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.items().len(), 5);
    assert_eq!(all["nextAfter"], Value::Null);
}

#[tokio::test]
async fn listing_needs_a_valid_customer_id_and_a_limit_between_1_and_200() {
    let app = spawn_app().await;
    for query in [
        "",
        "?limit=5",
        "?customerId=",
        "?customerId=a%20b",
        "?customerId=x&limit=0",
        "?customerId=x&limit=201",
        "?customerId=x&limit=abc",
        "?customerId=x&after=-1",
    ] {
        assert_problem(
            app.get(&format!("/paymethods{query}")).await,
            400,
            "invalid-request",
        )
        .await;
    }
    let empty: Value = app
        .get("/paymethods?customerId=nobody&limit=200")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty.items().len(), 0);
}

#[tokio::test]
async fn payments_are_listed_by_customer_by_payment_method_or_both_but_not_neither() {
    let app = spawn_app().await;
    let id = app.register_ok("rita", VISA).await.id();
    assert_eq!(app.register("rita", "card", DECLINED).await.status(), 402);
    assert_eq!(app.payments_of("rita").await.items().len(), 2);
    let first: Value = app
        .get("/payments?customerId=rita&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first.items().len(), 1);
    let after = first["nextAfter"].as_u64().expect("a second page");
    let second: Value = app
        .get(&format!("/payments?customerId=rita&limit=1&after={after}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second.items().len(), 1);
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
    assert_eq!(second["nextAfter"], Value::Null);
    let of_method = app.payments_of_method(id).await;
    assert_eq!(of_method.items().len(), 1);
    let both: Value = app
        .get(&format!("/payments?customerId=rita&paymethodId={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(both["items"], of_method["items"]);
    let other: Value = app
        .get(&format!("/payments?customerId=someone&paymethodId={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other.items().len(), 0);
    for query in [
        "",
        "?customerId=bad%20id",
        "?paymethodId=9223372036854775808",
        "?customerId=rita&after=9223372036854775808",
        "?paymethodId=0",
        "?customerId=rita&limit=0",
    ] {
        assert_problem(
            app.get(&format!("/payments{query}")).await,
            400,
            "invalid-request",
        )
        .await;
    }
    assert_problem(app.get("/payments/999999").await, 404, "not-found").await;
}
