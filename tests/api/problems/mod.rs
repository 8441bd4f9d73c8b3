//! The problem mapping and validation at the edge, driven through `http::router` with
//! `oneshot` (no socket): every refusal is `application/problem+json` with the status and
//! the `type` that API.md (contract v1) gives it. `bodies` covers what a request body can get
//! wrong, `requests` its route, method, path ids, headers and query.

mod bodies;
mod requests;

use crate::helpers::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::response::Response;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The router of a paytree built in this process (embedded payment system), sending the
/// admin key with every request that has no `Authorization` of its own. The data dir lives
/// as long as the returned guard.
pub async fn router() -> (Router, tempfile::TempDir) {
    let (app, temp) = build_app(&[]).await;
    let key = admin_key(&temp.path().join("data")).expect("paytree made an admin key");
    let bearer: axum::http::HeaderValue = format!("Bearer {key}").parse().unwrap();
    let with_key = tower::util::MapRequestLayer::new(move |mut request: Request<Body>| {
        if !request.headers().contains_key(header::AUTHORIZATION) {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, bearer.clone());
        }
        request
    });
    (app.router().layer(with_key), temp)
}

pub fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

pub fn json_request(method: Method, uri: &str, body: impl Into<Body>) -> Request<Body> {
    request(method, uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

pub fn get(uri: &str) -> Request<Body> {
    request(Method::GET, uri).body(Body::empty()).unwrap()
}

pub async fn send(router: &Router, request: Request<Body>) -> Response {
    router.clone().oneshot(request).await.unwrap()
}

pub async fn body_json(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Sends `request` and asserts a problem: status, content type, `type` and `status` in the
/// body. Returns the problem.
pub async fn refused(router: &Router, request: Request<Body>, status: u16, slug: &str) -> Value {
    let what = format!("{} {}", request.method(), request.uri());
    let response = send(router, request).await;
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    let problem = body_json(response).await;
    assert_eq!(
        problem["type"],
        format!("/problems/{slug}"),
        "{what}: {problem}"
    );
    assert_eq!(problem["status"], status, "{what}: {problem}");
    problem
}

/// Registers a card for `customer` through the router; the method's id.
pub async fn registered(router: &Router, customer: &str) -> u64 {
    let body = json!({"customerId": customer, "kind": "card", "number": VISA}).to_string();
    let response = send(router, json_request(Method::POST, "/paymethods", body)).await;
    assert_eq!(response.status(), 201);
    body_json(response).await.id()
}
