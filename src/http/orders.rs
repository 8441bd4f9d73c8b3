//! Order routes (seed 004): place and pay, read, cancel. Parse into domain types, make one
//! call to the tree, map the reply.

use super::access::Scope;
use super::dto::{ListOrdersQuery, OrderPage, OrderView, PlaceOrderBody};
use super::extract::{Id, JsonBody, Params, idempotency_key, replayed};
use super::problem::{Problem, ProblemBody};
use super::{AppState, POSITION};
use crate::actors::order::{OrderDone, Placement};
use crate::auth::Caller;
use crate::domain::catalogue::Sku;
use crate::domain::order::{Address, LineRequest, MAX_LINES, MAX_QUANTITY};
use crate::domain::{CustomerId, FieldError, OrderId, PaymethodId};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Place an order and pay for it: no payment, no order.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "1–255 visible ASCII characters, scoped per customer", pattern = "^[!-~]{1,255}$")),
    request_body = PlaceOrderBody,
    responses(
        (status = 201, description = "Charged and placed", body = OrderView,
            headers(("Location" = String, description = "/orders/{id}"), ("Paytree-Position" = u64), ("ETag" = String), ("Idempotent-Replayed" = String, description = "`true` when this repeats the first response for the key"))),
        (status = 400, description = "Malformed JSON, wrong types, unknown or missing fields, bad Idempotency-Key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "The payment system declined the charge; no order (the declined charge is kept)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same Idempotency-Key is in flight", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed: lines, quantities, skus, payment method, address, total", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Payment system unavailable or circuit open; nothing stored", body = ProblemBody, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
    )
)]
pub async fn place_order(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody<PlaceOrderBody>,
) -> Result<Response, Problem> {
    let customer = caller.body_customer(body.customer_id.take())?;
    let key = idempotency_key(&headers)?;
    let placement = parse_placement(&customer, body)?;
    let answer = app.actors.place_order(placement, key).await;
    let done = match answer.result {
        Ok(done) => done,
        Err(e) => return Ok(replayed(Problem::from(e).into_response(), answer.replayed)),
    };
    let shipment = app.actors.shipment_of_order(done.order.id).await?;
    let location = format!("/orders/{}", done.order.id);
    let mut response = (StatusCode::CREATED, order_response(&done, shipment)).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::try_from(location).map_err(|_| Problem::internal())?,
    );
    Ok(replayed(response, answer.replayed))
}

/// Every field checked, every failure reported at once.
fn parse_placement(customer: &str, body: PlaceOrderBody) -> Result<Placement, Problem> {
    let mut errors = Vec::new();
    let customer = CustomerId::parse(customer).map_err(|e| errors.push(e)).ok();
    let paymethod = match u64::try_from(body.paymethod_id) {
        Ok(id @ 1..) => Some(PaymethodId(id)),
        _ => {
            errors.push(FieldError::new("paymethodId", "must be a positive integer"));
            None
        }
    };
    if body.items.is_empty() || body.items.len() > MAX_LINES {
        errors.push(FieldError::new("items", "must have 1 to 50 lines"));
    }
    let mut lines = Vec::with_capacity(body.items.len());
    for (i, line) in body.items.iter().enumerate().take(MAX_LINES) {
        let sku = Sku::parse(&line.sku)
            .map_err(|e| errors.push(FieldError::new(format!("items[{i}].sku"), e.message)))
            .ok();
        let quantity = match u32::try_from(line.quantity) {
            Ok(q @ 1..=MAX_QUANTITY) => Some(q),
            _ => {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    "must be a whole number from 1 to 99",
                ));
                None
            }
        };
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            lines.push(LineRequest { sku, quantity });
        }
    }
    let address = Address::from(body.shipping_address)
        .check()
        .map_err(|mut e| errors.append(&mut e))
        .ok();
    match (customer, paymethod, address) {
        (Some(customer_id), Some(paymethod_id), Some(address)) if errors.is_empty() => {
            Ok(Placement {
                customer_id,
                paymethod_id,
                lines,
                address,
                idempotency: None,
            })
        }
        _ => Err(Problem::validation(errors)),
    }
}

/// `Paytree-Position`, `ETag` and the order.
fn order_response(done: &OrderDone, shipment: Option<u64>) -> impl IntoResponse + use<> {
    (
        [
            (
                header::HeaderName::from_static(POSITION),
                done.position.to_string(),
            ),
            (header::ETAG, format!("\"{}\"", done.order.version)),
        ],
        Json(OrderView::new(&done.order, shipment)),
    )
}

/// One order.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = OrderView, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 404, description = "Unknown", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, Problem> {
    let read = app.actors.order(OrderId(id), caller.confined_to()).await?;
    let etag = [(header::ETAG, format!("\"{}\"", read.order.version))];
    Ok((etag, Json(OrderView::from(&read))).into_response())
}

/// A customer's orders, by id.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(ListOrdersQuery),
    responses(
        (status = 200, body = OrderPage),
        (status = 400, description = "customerId missing or malformed, limit outside 1–200", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_orders(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<ListOrdersQuery>,
) -> Result<Json<OrderPage>, Problem> {
    let customer = caller.customer_for(q.customer_id.as_deref())?;
    let limit = super::limit(q.limit)?;
    let after = super::within_int64("after", q.after)?.unwrap_or(0);
    let page = app.actors.orders_of(customer, after, limit).await?;
    Ok(Json(OrderPage {
        items: page.items.iter().map(OrderView::from).collect(),
        next_after: page.next_after,
    }))
}

/// Cancel an order: the shipment is cancelled and the charge refunded, asynchronously.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 202, description = "Cancellation started: the order is `cancelling`", body = OrderView, headers(("Paytree-Position" = u64), ("ETag" = String))),
        (status = 200, description = "Cancellation asked for already (`cancelling` or `cancelled`): the order as it is", body = OrderView, headers(("Paytree-Position" = u64), ("ETag" = String))),
        (status = 404, description = "Unknown", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The order has shipped", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_order(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, Problem> {
    let owner = caller.confined_to().cloned();
    let cancelled = app.actors.cancel_order(OrderId(id), owner).await?;
    let shipment = app.actors.shipment_of_order(OrderId(id)).await?;
    let status = if cancelled.started {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, order_response(&cancelled.done, shipment)).into_response())
}
