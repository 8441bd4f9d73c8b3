//! The seller's routes: shipments listed, read and shipped; shipping paused and resumed.

use super::AppState;
use super::dto::{ListShipmentsQuery, ShipBody, ShipmentPage, ShipmentView, ShippingView};
use super::extract::{Id, JsonBody, Params};
use super::problem::{Problem, ProblemBody};
use crate::auth::{AuditEntry, Caller, action};
use crate::domain::ShipmentId;
use crate::domain::shipment::{Dispatch, ShipmentStatus};
use axum::Json;
use axum::extract::State;

/// Shipments by id, of one status or all.
#[utoipa::path(
    get, path = "/shipments", tag = "shipments",
    params(ListShipmentsQuery),
    responses(
        (status = 200, body = ShipmentPage),
        (status = 400, description = "Unknown status, limit outside 1–200", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_shipments(
    State(app): State<AppState>,
    Params(q): Params<ListShipmentsQuery>,
) -> Result<Json<ShipmentPage>, Problem> {
    let status = match q.status.as_deref() {
        None => None,
        Some(raw) => Some(ShipmentStatus::parse(raw).ok_or_else(|| {
            Problem::invalid_request("status must be pending, shipped or cancelled.")
        })?),
    };
    let limit = super::limit(q.limit)?;
    let after = super::within_int64("after", q.after)?.unwrap_or(0);
    let page = app.actors.shipments(status, after, limit).await?;
    Ok(Json(ShipmentPage {
        items: page.items.iter().map(ShipmentView::from).collect(),
        next_after: page.next_after,
    }))
}

/// One shipment.
#[utoipa::path(
    get, path = "/shipments/{id}", tag = "shipments",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = ShipmentView),
        (status = 404, description = "Unknown", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_shipment(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<Json<ShipmentView>, Problem> {
    let shipment = app.actors.shipment(ShipmentId(id)).await?;
    Ok(Json(ShipmentView::from(&shipment)))
}

/// Ship it: the order becomes `shipped` (or its cancellation is refused).
#[utoipa::path(
    post, path = "/shipments/{id}/ship", tag = "shipments",
    params(("id" = u64, Path, minimum = 1)),
    request_body = ShipBody,
    responses(
        (status = 200, description = "Shipped (shipped before: as it is)", body = ShipmentView),
        (status = 400, description = "Malformed JSON, wrong types, unknown or missing fields", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The shipment was cancelled", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad carrier or tracking number", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn ship(
    State(app): State<AppState>,
    Id(id): Id,
    JsonBody(body): JsonBody<ShipBody>,
) -> Result<Json<ShipmentView>, Problem> {
    let dispatch =
        Dispatch::check(body.carrier, body.tracking_number).map_err(Problem::validation)?;
    let shipment = app.actors.ship(ShipmentId(id), dispatch).await?;
    Ok(Json(ShipmentView::from(&shipment)))
}

/// Pause shipping: orders and cancellations are still taken; shipments are made on resume.
#[utoipa::path(
    post, path = "/admin/shipping/pause", tag = "shipments",
    responses(
        (status = 200, body = ShippingView),
        (status = 503, description = "Not recorded; nothing changed", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn pause_shipping(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<ShippingView>, Problem> {
    set_paused(&app, &caller, true).await
}

/// Resume shipping: it catches up with every order placed meanwhile.
#[utoipa::path(
    post, path = "/admin/shipping/resume", tag = "shipments",
    responses(
        (status = 200, body = ShippingView),
        (status = 503, description = "Not recorded; nothing changed", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn resume_shipping(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<ShippingView>, Problem> {
    set_paused(&app, &caller, false).await
}

async fn set_paused(
    app: &AppState,
    caller: &Caller,
    paused: bool,
) -> Result<Json<ShippingView>, Problem> {
    let what = if paused {
        action::SHIPPING_PAUSED
    } else {
        action::SHIPPING_RESUMED
    };
    let audit = AuditEntry::by(caller.key_id(), what, "shipping");
    app.actors.set_shipping_paused(paused, audit).await?;
    Ok(Json(ShippingView {
        paused: app.actors.shipping_paused().await?,
    }))
}
