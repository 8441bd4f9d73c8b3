//! A shop customer: one card, then orders, some of them cancelled.

use super::{CANCEL_SHARE, CANCEL_WAIT_MS, CARD, PRODUCTS, problem_type, till};
use crate::book::Book;
use crate::users::{register_card, send, use_key_as};
use goose::prelude::*;
use rand::Rng;
use rand::seq::IteratorRandom;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Times an order or a cancel is sent while its answer is a 503 or lost.
const ATTEMPTS: usize = 3;
/// The wait before sending it again.
const RETRY_WAIT: Duration = Duration::from_millis(50);

/// This user's customer, its card and the cancellations it has planned.
#[derive(Clone)]
struct Shopper {
    customer: String,
    method: Option<u64>,
    /// (not before, order id).
    cancels: Vec<(Instant, u64)>,
}

fn shopper(user: &mut GooseUser) -> &mut Shopper {
    user.get_session_data_unchecked_mut::<Shopper>()
}

fn custom(why: String) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(why))
}

/// Takes the user's `service` key and registers its customer's card.
pub async fn start(user: &mut GooseUser) -> TransactionResult {
    let customer = format!("{}-shop-{}", Book::get().run, user.weighted_users_index);
    Book::get().customer(&customer);
    user.set_session_data(Shopper {
        customer: customer.clone(),
        method: None,
        cancels: Vec::new(),
    });
    use_key_as(user, "service").await?;
    let method = register_card(user, &customer, CARD).await?;
    shopper(user).method = method.map(|(id, _)| id);
    Ok(())
}

/// Places one order of 1–3 random lines; plans its cancellation for [`CANCEL_SHARE`] of them.
pub async fn place(user: &mut GooseUser) -> TransactionResult {
    let customer = shopper(user).customer.clone();
    let method = match shopper(user).method {
        Some(m) => m,
        None => {
            // The registration at start got no 201: try again, as a customer would.
            let method = register_card(user, &customer, CARD)
                .await?
                .map(|(id, _)| id);
            shopper(user).method = method;
            method.ok_or_else(|| custom(format!("{customer}: no card registered")))?
        }
    };
    let body = order(&customer, method);
    let key = format!("o{}", rand::random::<u64>());
    for _ in 0..ATTEMPTS {
        let builder = user
            .get_request_builder(&GooseMethod::Post, "/orders")?
            .header("idempotency-key", &key)
            .json(&body);
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path("/orders")
            .name("order-place")
            .expect_status_code(201)
            .set_request_builder(builder)
            .build();
        let (status, answer) = send(user, request).await?;
        match status {
            Some(StatusCode::CREATED) => {
                let (Some(id), Some(total)) = (answer["id"].as_u64(), answer["total"].as_u64())
                else {
                    return Err(custom(format!("no id and total in {answer}")));
                };
                let mut till = till();
                // A replay (Idempotent-Replayed) answers an order already counted.
                if till.placed.insert(id, total).is_none() {
                    till.placed_at.push(unix_ms());
                }
                drop(till);
                plan_cancel(shopper(user), id);
                return Ok(());
            }
            Some(StatusCode::PAYMENT_REQUIRED) => {
                till().declined += 1;
                return Ok(());
            }
            // 409: the same key still in flight (a resend after a lost answer).
            Some(StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT) | None => {
                tokio::time::sleep(RETRY_WAIT).await;
            }
            Some(_) => break,
        }
    }
    till().unplaced += 1;
    Ok(())
}

/// The body of a new order: 1–3 distinct products, 1–3 of each, to a Seoul address.
fn order(customer: &str, method: u64) -> Value {
    let mut rng = rand::rng();
    let lines = rng.random_range(1..=3);
    let items: Vec<Value> = PRODUCTS
        .iter()
        .choose_multiple(&mut rng, lines)
        .into_iter()
        .map(|(sku, _, _)| json!({"sku": sku, "quantity": rng.random_range(1..=3)}))
        .collect();
    json!({
        "customerId": customer,
        "paymethodId": method,
        "items": items,
        "shippingAddress": {
            "name": "Load Test", "line1": "1 Jongno", "city": "Seoul",
            "postalCode": "03154", "country": "KR"
        }
    })
}

fn plan_cancel(shopper: &mut Shopper, order: u64) {
    let mut rng = rand::rng();
    let roll: f64 = rng.random();
    let now = Instant::now();
    if roll < CANCEL_SHARE / 2.0 {
        shopper.cancels.push((now, order));
    } else if roll < CANCEL_SHARE {
        let wait = Duration::from_millis(rng.random_range(CANCEL_WAIT_MS));
        shopper.cancels.push((now + wait, order));
    }
}

/// Cancels every order whose planned time has come (none waits here: the others stay
/// planned while the user places more orders).
pub async fn cancel_due(user: &mut GooseUser) -> TransactionResult {
    let now = Instant::now();
    let planned = std::mem::take(&mut shopper(user).cancels);
    let (due, later): (Vec<_>, Vec<_>) = planned.into_iter().partition(|(at, _)| *at <= now);
    shopper(user).cancels = later;
    for (_, order) in due {
        cancel(user, order).await?;
    }
    Ok(())
}

/// `POST /orders/{id}/cancel`: 202 expected; 409 `order-already-shipped` is an answer of the
/// contract (the seller shipped first), not a failure. Resent (it is safe to repeat) while
/// the answer is a 503 or lost.
async fn cancel(user: &mut GooseUser, order: u64) -> TransactionResult {
    let path = format!("/orders/{order}/cancel");
    for _ in 0..ATTEMPTS {
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(path.as_str())
            .name("order-cancel")
            .expect_status_code(202)
            .build();
        let mut goose = user.request(request).await?;
        let Ok(response) = goose.response else {
            tokio::time::sleep(RETRY_WAIT).await;
            continue;
        };
        let status = response.status();
        match status {
            StatusCode::ACCEPTED | StatusCode::OK => {
                till().cancels.insert(order, status.as_u16());
                return Ok(());
            }
            StatusCode::CONFLICT => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if problem_type(&body) == "order-already-shipped" {
                    till().cancels.insert(order, 409);
                    return user.set_success(&mut goose.request);
                }
                return Ok(());
            }
            StatusCode::SERVICE_UNAVAILABLE => tokio::time::sleep(RETRY_WAIT).await,
            _ => return Ok(()),
        }
    }
    Ok(())
}

fn unix_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as i64)
}
