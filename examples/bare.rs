//! A bare axum server that answers paytree's routes with the same JSON shapes and does no
//! work: no actors, no store, no payment call. It is the ceiling of the HTTP stack on this
//! machine, which `benches/compare.sh` measures paytree against.
//!
//! `cargo run --release --example bare -- 127.0.0.1:18080`

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn method(id: u64, customer: &str, version: u64) -> Value {
    json!({
        "id": id, "customerId": customer, "kind": "card", "brand": "visa", "last4": "4242",
        "maskedNumber": "**** **** **** 4242", "requestId": null, "status": "active",
        "version": version, "verificationPaymentId": id,
        "createdAt": "2026-11-21T09:30:00Z", "updatedAt": "2026-11-21T09:30:00Z"
    })
}

fn message(id: u64, customer: &str) -> Value {
    json!({
        "id": id, "eventId": id, "customerId": customer, "paymethodId": id,
        "type": "PaymentMethodRegistered", "text": "Your card ending 4242 was registered.",
        "status": "delivered", "attempts": 1,
        "createdAt": "2026-11-21T09:30:00Z", "deliveredAt": "2026-11-21T09:30:00Z"
    })
}

/// Parses the body as paytree does (a JSON object), then answers 201 with a method.
async fn register(Json(body): Json<Value>) -> (StatusCode, HeaderMap, Json<Value>) {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let customer = body["customerId"].as_str().unwrap_or("anyone");
    let mut headers = HeaderMap::new();
    headers.insert("location", HeaderValue::from(id));
    headers.insert("paytree-position", HeaderValue::from(id));
    (StatusCode::CREATED, headers, Json(method(id, customer, 1)))
}

async fn change(Path(id): Path<u64>, Json(_): Json<Value>) -> (HeaderMap, Json<Value>) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "paytree-position",
        HeaderValue::from(NEXT.fetch_add(1, Ordering::Relaxed)),
    );
    (headers, Json(method(id, "anyone", 2)))
}

async fn mypage(Path(customer): Path<String>) -> Json<Value> {
    Json(json!({
        "customerId": customer,
        "paymentMethods": [method(1, &customer, 1)],
        "recentMessages": [message(1, &customer)],
        "position": 1
    }))
}

async fn messages() -> Json<Value> {
    Json(json!({"items": [message(1, "anyone")], "nextAfter": null}))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".into());
    let app = Router::new()
        .route("/paymethods", post(register))
        .route("/paymethods/{id}", patch(change))
        .route("/mypages/{customer}", get(mypage))
        .route("/messages", get(messages))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("bare listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
