//! The clothing shop of seed 004 as tests use it: products, orders, shipments, and waiting
//! for the saga.

use super::{Json, TestApp};
use reqwest::Response;
use serde_json::{Value, json};
use std::time::Duration;

/// A product every shop test stocks, at 19,000 KRW.
pub const TEE: &str = "tee-white-m";
/// A card whose verification passes and every charge is declined.
pub const CHARGES_DECLINED: &str = "4000000000000341";

/// A valid shipping address in Seoul.
pub fn address() -> Value {
    json!({"name": "Alice Kim", "line1": "1 Jongno", "city": "Seoul", "postalCode": "03154", "country": "KR"})
}

/// An order's body: `items` as (sku, quantity).
pub fn order_body(customer: &str, paymethod: u64, items: &[(&str, u32)]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity}))
        .collect();
    json!({"customerId": customer, "paymethodId": paymethod, "items": items, "shippingAddress": address()})
}

impl TestApp {
    /// `PUT /admin/products/{sku}`, which must succeed.
    pub async fn stock(&self, sku: &str, unit_price: u64, active: bool) {
        let r = self
            .client
            .put(self.url(&format!("/admin/products/{sku}")))
            .json(
                &json!({"name": format!("{sku} name"), "unitPrice": unit_price, "active": active}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// A customer with a card, and the tee in stock: the card's id.
    pub async fn shopper(&self, customer: &str) -> u64 {
        self.stock(TEE, 19_000, true).await;
        self.register_ok(customer, super::VISA).await.id()
    }

    /// `POST /orders`.
    pub async fn order(&self, body: &Value) -> Response {
        self.post_json("/orders", body).await
    }

    /// `POST /orders` for `quantity` tees, which must answer 201; the order.
    pub async fn order_ok(&self, customer: &str, paymethod: u64, quantity: u32) -> Value {
        let r = self
            .order(&order_body(customer, paymethod, &[(TEE, quantity)]))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// `POST /orders/{id}/cancel`.
    pub async fn cancel(&self, order: u64) -> Response {
        self.client
            .post(self.url(&format!("/orders/{order}/cancel")))
            .send()
            .await
            .unwrap()
    }

    /// `GET /orders/{id}`, which must answer 200.
    pub async fn get_order(&self, order: u64) -> Value {
        self.ok_json(&format!("/orders/{order}")).await
    }

    /// The order once `done` holds for it (at most 20 s).
    pub async fn order_when(&self, order: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.order_when_within(order, what, 20, done).await
    }

    /// The order once its status is `status`, waiting at most `seconds`.
    pub async fn order_in_within(&self, order: u64, status: &str, seconds: u64) -> Value {
        self.order_when_within(order, status, seconds, |o| o["status"] == status)
            .await
    }

    async fn order_when_within(
        &self,
        order: u64,
        what: &str,
        seconds: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..seconds * 20 {
            let o = self.get_order(order).await;
            if done(&o) {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "order {order} never got {what}: {}",
            self.get_order(order).await
        );
    }

    /// The order once its status is `status`.
    pub async fn order_in(&self, order: u64, status: &str) -> Value {
        self.order_when(order, status, |o| o["status"] == status)
            .await
    }

    /// The id of the order's shipment, once shipping has made it.
    pub async fn shipment_of(&self, order: u64) -> u64 {
        let o = self
            .order_when(order, "a shipment", |o| o["shipmentId"].is_u64())
            .await;
        o["shipmentId"].as_u64().unwrap()
    }

    /// `POST /shipments/{id}/ship`.
    pub async fn ship(&self, shipment: u64) -> Response {
        self.post_json(
            &format!("/shipments/{shipment}/ship"),
            &json!({"carrier": "CJ", "trackingNumber": format!("T{shipment}")}),
        )
        .await
    }

    /// `POST /admin/shipping/pause` or `resume`, which must answer 200.
    pub async fn set_shipping(&self, paused: bool) {
        let what = if paused { "pause" } else { "resume" };
        let r = self
            .post_json(&format!("/admin/shipping/{what}"), &json!(null))
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}
