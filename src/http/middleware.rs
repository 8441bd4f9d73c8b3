//! Middleware, outermost first: the request's id, its access-log line and its metrics (so
//! 413s and every error are counted and logged), the problem wrapper for errors produced
//! outside handlers, and the early body-size check.

use super::problem::{PROBLEM_JSON, Problem};
use crate::telemetry::names;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tracing::Instrument;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The matched route, handed from the inner layer to the outer one on the response.
#[derive(Clone)]
struct RouteLabel(String);

/// The header a request's id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// A request's id: the client's `X-Request-Id` if it is 1–64 characters of `A-Z a-z 0-9 . _ :
/// -`, else a new one (16 hex digits). Every log line of the request carries it, and the
/// response echoes it.
fn request_id(request: &Request) -> String {
    let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-');
    match request.headers().get(REQUEST_ID).map(|v| v.as_bytes()) {
        Some(id) if (1..=64).contains(&id.len()) && id.iter().all(|c| ok(*c)) => {
            String::from_utf8_lossy(id).into_owned()
        }
        _ => format!("{:016x}", rand::random::<u64>()),
    }
}

/// Gives every request its id (a tracing span around it, the header on its answer), writes
/// its access-log line (`paytree::access`: method, matched route, status, duration, id; never
/// a body, a key or a number) and counts and times it by method, matched route and status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let id = request_id(&request);
    let span = tracing::info_span!("request", id = %id);
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    tracing::info!(
        target: "paytree::access",
        parent: &span,
        method,
        route = %route,
        status,
        ms = elapsed.as_secs_f64() * 1000.0,
    );
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
    response
}

/// Put on matched routes only: labels the response with the route template.
pub async fn label_route(path: MatchedPath, request: Request, next: Next) -> Response {
    let label = RouteLabel(path.as_str().to_owned());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(label);
    response
}

/// Rewrites error responses that are not problems yet (unknown route, wrong method, a body
/// refused by a layer) into problems, keeping their status and headers such as `Allow`.
pub async fn problem_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut fresh = Problem::for_status(status).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            fresh.headers_mut().insert(name, v.clone());
        }
    }
    if let Some(label) = parts.extensions.get::<RouteLabel>() {
        fresh.extensions_mut().insert(label.clone());
    }
    fresh
}

/// Refuses a declared body over the limit before reading it.
pub async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Problem::for_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE).into_response();
    }
    next.run(request).await
}
