//! `paytree provider`: the simulated payment system over HTTP, so it can be stopped, started
//! and given faults like the seed's separate payment service.

use super::simulated::{Faults, SimError, Simulator};
use super::wire::{AuthorizationBody, RefundBody};
use crate::config::Secret;
use axum::extract::{Query, Request, State, rejection::JsonRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The simulated payment system's routes. With `api_key`, every `/v1/` call must carry
/// `Authorization: Bearer <api_key>`, else it is refused with 401; `/healthz` stays open.
pub fn router(sim: Arc<Simulator>, api_key: Option<Secret>) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/authorizations",
            post(authorize).get(find_authorization),
        )
        .route("/v1/refunds", post(refund))
        .route("/v1/ledger", get(ledger))
        .route("/v1/faults", put(set_faults).get(get_faults))
        .route("/v1/stats", get(stats));
    let v1 = match api_key {
        Some(key) => v1.route_layer(middleware::from_fn_with_state(
            Arc::new(KeyDigest::of(key.expose().as_bytes())),
            require_key,
        )),
        None => v1,
    };
    v1.route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(sim)
}

/// A key as its SHA-256, so that comparing two takes the same time whatever they hold,
/// their lengths included.
struct KeyDigest([u8; 32]);

impl KeyDigest {
    fn of(key: &[u8]) -> Self {
        Self(Sha256::digest(key).into())
    }

    fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

async fn require_key(State(key): State<Arc<KeyDigest>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(KeyDigest::of);
    if given.is_some_and(|given| key.matches(&given)) {
        return next.run(request).await;
    }
    let mut refused = error(StatusCode::UNAUTHORIZED, "missing or wrong API key");
    refused.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    refused
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match self {
            SimError::Down | SimError::Fault => StatusCode::SERVICE_UNAVAILABLE,
            SimError::Invalid(_) | SimError::RefundRefused => StatusCode::UNPROCESSABLE_ENTITY,
            SimError::NotFound => StatusCode::NOT_FOUND,
            SimError::AlreadyRefunded => StatusCode::CONFLICT,
        };
        error(status, &self.to_string())
    }
}

async fn authorize(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Result<Json<AuthorizationBody>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid authorization body");
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    match sim.authorize(key, body).await {
        Ok(reply) => (StatusCode::CREATED, Json(reply)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ReferenceQuery {
    reference: String,
}

async fn find_authorization(
    State(sim): State<Arc<Simulator>>,
    Query(q): Query<ReferenceQuery>,
) -> Response {
    match sim.find(&q.reference) {
        Some(reply) => Json(reply).into_response(),
        None => SimError::NotFound.into_response(),
    }
}

async fn refund(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Result<Json<RefundBody>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid refund body");
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    match sim.refund(key, &body.authorization, body.amount).await {
        Ok(reply) => (StatusCode::CREATED, Json(reply)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn ledger(State(sim): State<Arc<Simulator>>) -> Response {
    Json(sim.ledger()).into_response()
}

async fn stats(State(sim): State<Arc<Simulator>>) -> Response {
    let (lookups, refunds) = sim.lookup_and_refund_calls();
    Json(json!({
        "authorizationCalls": sim.authorization_calls(),
        "lookupCalls": lookups,
        "refundCalls": refunds,
    }))
    .into_response()
}

async fn get_faults(State(sim): State<Arc<Simulator>>) -> Response {
    Json(sim.faults()).into_response()
}

async fn set_faults(
    State(sim): State<Arc<Simulator>>,
    body: Result<Json<Faults>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(faults)) if faults.is_valid() => {
            sim.set_faults(faults.clone());
            Json(faults).into_response()
        }
        _ => error(StatusCode::BAD_REQUEST, "invalid faults body"),
    }
}
