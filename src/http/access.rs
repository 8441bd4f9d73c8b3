//! Who may call what: one table of every route, and the one check every matched request
//! passes. A route missing from the table is refused to everyone (deny by default); the
//! tests walk the OpenAPI document against it.
//!
//! The check authenticates the key, applies the failed-authentication limit per client
//! address and the per-key rate limit, and refuses a role the route does not allow. What a
//! `customer` key may see within a route (its own customer only) is decided by the handler,
//! through [`Caller`]'s scope helpers, because only the handler knows the object.

use super::AppState;
use super::problem::Problem;
use crate::actors::CommandError;
use crate::auth::{ApiKey, Caller, Role};
use crate::domain::CustomerId;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key: health, readiness, the OpenAPI document, problem pages.
    Public,
    /// Keys of these roles. A `customer` key among them is confined to its customer.
    Roles(&'static [Role]),
}

use Role::{Admin, Customer, Metrics, Seller, Service};

/// A customer's own data: payment methods, payments, messages, mypage, placing and
/// cancelling orders.
const CUSTOMER_DATA: Access = Access::Roles(&[Admin, Service, Customer]);
const ADMIN: Access = Access::Roles(&[Admin]);
const METRICS: Access = Access::Roles(&[Admin, Metrics]);
/// Every key, whatever its role.
const ANY_KEY: Access = Access::Roles(&[Admin, Service, Seller, Customer, Metrics]);
const CATALOGUE: Access = Access::Roles(&[Admin, Seller]);
/// Orders are read by sellers too.
const ORDERS_READ: Access = Access::Roles(&[Admin, Service, Seller, Customer]);
/// The seller's side: shipments.
const SHIPPING: Access = Access::Roles(&[Admin, Seller]);

/// Every route: method, path template (as axum matches it), who may call it.
pub const TABLE: &[(&str, &str, Access)] = &[
    ("POST", "/paymethods", CUSTOMER_DATA),
    ("GET", "/paymethods", CUSTOMER_DATA),
    ("GET", "/paymethods/{id}", CUSTOMER_DATA),
    ("PATCH", "/paymethods/{id}", CUSTOMER_DATA),
    ("DELETE", "/paymethods/{id}", CUSTOMER_DATA),
    ("GET", "/payments", CUSTOMER_DATA),
    ("GET", "/payments/{id}", CUSTOMER_DATA),
    ("GET", "/messages", CUSTOMER_DATA),
    ("GET", "/mypages/{customerId}", CUSTOMER_DATA),
    ("GET", "/admin/messages/{id}", ADMIN),
    ("POST", "/admin/messages/{id}/redeliver", ADMIN),
    ("GET", "/admin/breaker", ADMIN),
    ("POST", "/admin/paymethods/{id}/release", ADMIN),
    ("POST", "/admin/orders/{id}/release", ADMIN),
    ("POST", "/admin/shipments/{id}/release", ADMIN),
    ("POST", "/admin/keys", ADMIN),
    ("GET", "/admin/keys", ADMIN),
    ("DELETE", "/admin/keys/{id}", ADMIN),
    ("GET", "/admin/audit", ADMIN),
    ("POST", "/admin/backup", ADMIN),
    ("GET", "/me", ANY_KEY),
    ("GET", "/products", ANY_KEY),
    ("GET", "/products/{sku}", ANY_KEY),
    ("PUT", "/admin/products/{sku}", CATALOGUE),
    ("POST", "/orders", CUSTOMER_DATA),
    ("GET", "/orders", ORDERS_READ),
    ("GET", "/orders/{id}", ORDERS_READ),
    ("POST", "/orders/{id}/cancel", CUSTOMER_DATA),
    ("GET", "/shipments", SHIPPING),
    ("GET", "/shipments/{id}", SHIPPING),
    ("POST", "/shipments/{id}/ship", SHIPPING),
    ("POST", "/admin/shipping/pause", ADMIN),
    ("POST", "/admin/shipping/resume", ADMIN),
    ("GET", "/metrics", METRICS),
    ("GET", "/healthz", Access::Public),
    ("GET", "/readyz", Access::Public),
    ("GET", "/openapi.json", Access::Public),
    ("GET", "/problems/{slug}", Access::Public),
    // The web pages: static files that hold no data (they call the API with a key).
    ("GET", "/app", Access::Public),
    ("GET", "/app/", Access::Public),
    ("GET", "/app/seller", Access::Public),
    ("GET", "/app/{file}", Access::Public),
    // Fault injection, served only with --test-hooks.
    ("POST", "/admin/test/panic/{actor}", ADMIN),
    ("POST", "/admin/test/panic/paymethods/{id}", ADMIN),
];

/// Who may call `method path`; `None` for a route the table does not name.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    // HEAD is answered by the GET route.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    TABLE
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, access)| *access)
}

/// Writes the table into the OpenAPI document: public operations need no key (`security:
/// []`), every other one has the 401, 403 and 429 answers of the check.
pub fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder, Type};
    let problem = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
    };
    let integer = || {
        HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(Type::Integer),
            ))
            .build()
    };
    let text = || {
        HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(Type::String),
            ))
            .build()
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let operations = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let method = Method::from_bytes(method.as_bytes()).expect("a valid method");
            match access(&method, path) {
                Some(Access::Public) => operation.security = Some(Vec::new()),
                _ => {
                    let responses = &mut operation.responses.responses;
                    let unauthorized =
                        problem("No key, or a malformed, unknown, revoked or expired one")
                            .header("WWW-Authenticate", text())
                            .build();
                    let forbidden = problem("This key's role may not use this route, or a customer key named another customer").build();
                    let limited = problem("Too many requests with this key, or failed authentications from this address")
                        .header("Retry-After", integer())
                        .build();
                    responses.insert("401".into(), unauthorized.into());
                    responses.insert("403".into(), forbidden.into());
                    responses.insert("429".into(), limited.into());
                }
            }
        }
    }
}

/// The check, on every matched route.
pub async fn authorize(
    State(app): State<AppState>,
    path: MatchedPath,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(access) = access(request.method(), path.as_str()) else {
        // Not in the table, so not served, whether the router has it or not: the methods
        // the table names for this path are the ones allowed.
        return not_allowed(path.as_str());
    };
    let Access::Roles(roles) = access else {
        return next.run(request).await;
    };
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(ApiKey::from_bearer);
    let caller = match key {
        Some(key) => match app.keys.authenticate(&key).await {
            Ok(caller) => caller,
            Err(e) => {
                tracing::error!(error = %e, "reading a key's record failed");
                return Problem::from(CommandError::Unavailable).into_response();
            }
        },
        None => None,
    };
    let Some(caller) = caller else {
        return match app.limits.failed_authentication(client_address(&request)) {
            Ok(()) => Problem::unauthorized().into_response(),
            Err(limited) => Problem::rate_limited(limited.retry_after).into_response(),
        };
    };
    if let Err(limited) = caller.take_request() {
        return Problem::rate_limited(limited.retry_after).into_response();
    }
    if !roles.contains(&caller.role()) {
        return Problem::forbidden().into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// 405 with `Allow`: the methods the table names for `path` (HEAD with GET).
fn not_allowed(path: &str) -> Response {
    let mut methods: Vec<&str> = TABLE
        .iter()
        .filter(|(_, p, _)| *p == path)
        .map(|(m, _, _)| *m)
        .collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    let mut response = Problem::for_status(StatusCode::METHOD_NOT_ALLOWED).into_response();
    if let Ok(allow) = HeaderValue::from_str(&methods.join(",")) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// The address the connection came from (the serving loop records it); unspecified for a
/// request handed to the router without a connection (in-process tests).
fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    /// The authenticated caller. A handler that asks for one on a route the table leaves
    /// public is a mistake of the table: refused rather than served to anyone.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(Problem::forbidden)
    }
}

/// What a caller may see of customers' data.
pub trait Scope {
    /// The customer a request is about: a `customer` key's own when `requested` is `None` or
    /// its own, else 403; for other roles `requested`, which they must give (else 400).
    fn customer_for(&self, requested: Option<&str>) -> Result<CustomerId, Problem>;

    /// The `customerId` of a body, still to be validated with the rest of it: a `customer`
    /// key's own when it is omitted or its own, else 403; other roles must give it (400).
    fn body_customer(&self, given: Option<String>) -> Result<String, Problem>;

    /// The customer a `customer` key is bound to; `None` for roles that see every customer.
    fn confined_to(&self) -> Option<&CustomerId>;

    /// Whether an object of `owner` may be shown; one that may not answers exactly as an
    /// unknown id (404), so ids cannot be probed.
    fn may_see(&self, owner: &CustomerId) -> bool {
        self.confined_to().is_none_or(|own| own == owner)
    }
}

impl Scope for Caller {
    fn customer_for(&self, requested: Option<&str>) -> Result<CustomerId, Problem> {
        match (self.customer(), requested) {
            (Some(own), None) => Ok(own.clone()),
            (Some(own), Some(asked)) if own.as_str() == asked => Ok(own.clone()),
            (Some(_), Some(_)) => Err(Problem::forbidden()),
            (None, Some(asked)) => CustomerId::parse(asked)
                .map_err(|e| Problem::invalid_request(format!("customerId {}.", e.message))),
            (None, None) => Err(Problem::invalid_request("customerId is required.")),
        }
    }

    fn body_customer(&self, given: Option<String>) -> Result<String, Problem> {
        match (self.customer(), given) {
            (Some(own), None) => Ok(own.to_string()),
            (Some(own), Some(given)) if own.as_str() == given => Ok(given),
            (Some(_), Some(_)) => Err(Problem::forbidden()),
            (None, Some(given)) => Ok(given),
            (None, None) => Err(Problem::invalid_request(
                "missing field `customerId` (only a customer key may omit it).",
            )),
        }
    }

    fn confined_to(&self) -> Option<&CustomerId> {
        self.customer()
    }
}
