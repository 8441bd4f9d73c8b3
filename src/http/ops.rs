//! Operations routes: liveness, readiness, Prometheus metrics, the breaker, the OpenAPI document.

use super::AppState;
use super::dto::{BreakerView, Released, Status};
use super::extract::Id;
use super::problem::{Problem, ProblemBody};
use crate::actors::PanicTarget;
use crate::auth::{Caller, action};
use crate::domain::{OrderId, PaymethodId, ShipmentId};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// 200 when the store is open and the actor tree is up; 503 while starting or draining, or
/// when the supervisor has given up restarting a child.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Status),
        (status = 503, description = "Starting, draining or unhealthy", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(app): State<AppState>) -> Response {
    if app.is_ready() {
        Json(Status { status: "ready" }).into_response()
    } else {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "paytree is starting, draining or unhealthy.",
        )
        .retry_after(1)
        .into_response()
    }
}

/// Prometheus text exposition.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(app): State<AppState>) -> Response {
    crate::telemetry::collect_process_metrics();
    crate::telemetry::collect_disk_metrics(app.data_dir.path());
    let body = app.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The circuit breaker in front of the payment system.
#[utoipa::path(
    get, path = "/admin/breaker", tag = "operations",
    responses(
        (status = 200, body = BreakerView),
        (status = 503, description = "The payment actor is restarting", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_breaker(State(app): State<AppState>) -> Result<Json<BreakerView>, Problem> {
    let (snapshot, recorded) = app.actors.breaker().await?;
    let replica = app.actors.replica().map(str::to_owned);
    Ok(Json(BreakerView::new(snapshot, recorded, replica)))
}

/// Lifts the quarantine of a payment method whose actor failed repeatedly, so its next
/// command starts it again from the store. 404 for an id that is neither quarantined nor
/// a stored payment method.
#[utoipa::path(
    post, path = "/admin/paymethods/{id}/release", tag = "operations",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = Released),
        (status = 404, description = "No such payment method", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The router is restarting", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn release_paymethod(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Released>, Problem> {
    let released = app.actors.release(PaymethodId(id)).await?;
    // Only to tell an unknown id (404) from a method that was not quarantined.
    let exists = async { app.actors.paymethod(PaymethodId(id)).await.map(drop) };
    released_answer(
        &app,
        &caller,
        action::PAYMETHOD_RELEASED,
        id,
        released,
        exists,
    )
    .await
}

/// Lifts the quarantine of an order whose actor failed repeatedly (as for payment methods).
#[utoipa::path(
    post, path = "/admin/orders/{id}/release", tag = "operations",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = Released),
        (status = 404, description = "No such order", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The router is restarting", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn release_order(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Released>, Problem> {
    let released = app.actors.release_order(OrderId(id)).await?;
    let exists = async { app.actors.order(OrderId(id), None).await.map(drop) };
    released_answer(&app, &caller, action::ORDER_RELEASED, id, released, exists).await
}

/// Lifts the quarantine of a shipment whose actor failed repeatedly (as for payment methods).
#[utoipa::path(
    post, path = "/admin/shipments/{id}/release", tag = "operations",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = Released),
        (status = 404, description = "No such shipment", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The router is restarting", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn release_shipment(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Released>, Problem> {
    let released = app.actors.release_shipment(ShipmentId(id)).await?;
    let exists = async { app.actors.shipment(ShipmentId(id)).await.map(drop) };
    released_answer(
        &app,
        &caller,
        action::SHIPMENT_RELEASED,
        id,
        released,
        exists,
    )
    .await
}

/// A release's answer: audited when it released something (a quarantine lives in memory:
/// the audit entry is the only thing stored); otherwise 404 unless `exists`.
async fn released_answer(
    app: &AppState,
    caller: &Caller,
    action: &str,
    id: u64,
    released: bool,
    exists: impl std::future::Future<Output = Result<(), crate::actors::CommandError>>,
) -> Result<Json<Released>, Problem> {
    if released {
        super::admin::audit(app, caller, action, &id.to_string()).await;
    } else {
        exists.await?;
    }
    Ok(Json(Released {
        id,
        was_quarantined: released,
    }))
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = Object))
)]
pub async fn openapi(State(app): State<AppState>) -> Response {
    match app.openapi.get() {
        Some(doc) => ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response(),
        None => Problem::internal().into_response(),
    }
}

/// Test hook (served only with `--test-hooks`): makes one aggregate panic.
pub async fn panic_paymethod_hook(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    app.actors
        .inject_panic(PanicTarget::Paymethod(PaymethodId(id)))?;
    Ok(StatusCode::ACCEPTED)
}

/// Test hook (served only with `--test-hooks`): makes the notifier or the projector panic.
pub async fn panic_hook(
    State(app): State<AppState>,
    axum::extract::Path(actor): axum::extract::Path<String>,
) -> Result<StatusCode, Problem> {
    let target = match actor.as_str() {
        "notifier" => PanicTarget::Notifier,
        "projector" => PanicTarget::Projector,
        _ => return Err(Problem::not_found()),
    };
    app.actors.inject_panic(target)?;
    Ok(StatusCode::ACCEPTED)
}
