//! The HTTP layer: axum routes that validate, make one call through [`Actors`], and map the
//! reply. It never sees ractor or redb. [`router`] is a free function so tests can drive it.

pub mod access;
mod admin;
mod backup;
mod catalogue;
mod dto;
mod extract;
mod me;
mod messages;
mod middleware;
mod mypages;
mod ops;
mod orders;
mod payments;
mod paymethods;
pub mod problem;
mod shipments;
mod web;

use crate::actors::{Actors, Done};
use crate::auth::{Keys, Limits};
use crate::maintenance::DataDir;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use metrics_exporter_prometheus::PrometheusHandle;
use problem::Problem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The header carrying the event position a command's response reflects.
pub const POSITION: &str = "paytree-position";

/// What every handler can reach. One `Arc`, so that the clone each request makes (one for
/// the access check, one for its handler) is one reference count, not one per field: with
/// a count per field, cloning and dropping the state took a fifth of the CPU of small reads.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub actors: Actors,
    pub keys: Keys,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    /// False until started and again while draining.
    pub accepting: Arc<AtomicBool>,
    /// Backups and disk use.
    pub data_dir: DataDir,
    openapi: OnceLock<String>,
    /// Serve the `/admin/test/*` fault injection (tests only).
    test_hooks: bool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// With `test_hooks`, the router also serves `/admin/test/*`, which makes actors fail on
    /// purpose.
    pub fn new(
        actors: Actors,
        keys: Keys,
        limits: Limits,
        metrics: PrometheusHandle,
        accepting: Arc<AtomicBool>,
        data_dir: DataDir,
        test_hooks: bool,
    ) -> Self {
        Self(Arc::new(Shared {
            actors,
            keys,
            limits,
            metrics,
            accepting,
            data_dir,
            openapi: OnceLock::new(),
            test_hooks,
        }))
    }

    fn is_ready(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
            && self.actors.is_healthy()
            && self.actors.store_is_writable()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "paytree", description = "Payment methods registered, changed and shown reliably (every registration is verified by the payment system synchronously), and orders paid, shipped and cancelled with refunds."),
    tags(
        (name = "paymethods", description = "The payment-method aggregate"),
        (name = "payments", description = "Records kept by the payment side"),
        (name = "messages", description = "Notifications to the customer, one per event"),
        (name = "mypage", description = "The customer's read view (CQRS projection)"),
        (name = "operations", description = "Health, readiness, metrics and the circuit breaker"),
        (name = "keys", description = "API keys and the audit log of admin actions (admin only)"),
        (name = "catalogue", description = "Products and their prices (KRW)"),
        (name = "orders", description = "Orders: placed and paid synchronously, cancelled through a saga"),
        (name = "shipments", description = "The seller's side: one shipment per order, shipped asynchronously"),
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

/// Declares the `Authorization: Bearer <key>` scheme that every route but the public ones
/// requires (those override `security` with an empty list).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API key: `ptk_` and 43 characters of A-Z a-z 0-9."))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Every route with its middleware, and the OpenAPI document generated from the handlers.
pub fn router(state: AppState) -> axum::Router {
    let (routes, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            paymethods::register_paymethod,
            paymethods::list_paymethods
        ))
        .routes(routes!(
            paymethods::get_paymethod,
            paymethods::change_paymethod,
            paymethods::remove_paymethod
        ))
        .routes(routes!(payments::list_payments))
        .routes(routes!(payments::get_payment))
        .routes(routes!(messages::list_messages))
        .routes(routes!(messages::get_message))
        .routes(routes!(messages::redeliver_message))
        .routes(routes!(mypages::get_mypage))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::get_breaker))
        .routes(routes!(ops::release_paymethod))
        .routes(routes!(ops::release_order))
        .routes(routes!(ops::release_shipment))
        .routes(routes!(ops::openapi))
        .routes(routes!(admin::create_key, admin::list_keys))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(admin::list_audit))
        .routes(routes!(backup::take_backup))
        .routes(routes!(me::me))
        .routes(routes!(catalogue::list_products))
        .routes(routes!(catalogue::get_product))
        .routes(routes!(catalogue::put_product))
        .routes(routes!(orders::place_order, orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(shipments::list_shipments))
        .routes(routes!(shipments::get_shipment))
        .routes(routes!(shipments::ship))
        .routes(routes!(shipments::pause_shipping))
        .routes(routes!(shipments::resume_shipping))
        .split_for_parts();
    let mut api = api;
    access::document(&mut api);
    let doc = api.to_json().expect("the OpenAPI document serializes");
    let _ = state.openapi.set(doc);
    // Documentation and pages, not API: kept out of the OpenAPI document.
    let routes = routes
        .route(
            "/problems/{slug}",
            axum::routing::get(problem::problem_type),
        )
        .route("/app", axum::routing::get(web::app_root))
        .route("/app/", axum::routing::get(web::mypage))
        .route("/app/seller", axum::routing::get(web::seller))
        .route("/app/{file}", axum::routing::get(web::asset));
    let routes = if state.test_hooks {
        routes
            .route(
                "/admin/test/panic/{actor}",
                axum::routing::post(ops::panic_hook),
            )
            .route(
                "/admin/test/panic/paymethods/{id}",
                axum::routing::post(ops::panic_paymethod_hook),
            )
    } else {
        routes
    };
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .route_layer(axum::middleware::from_fn(middleware::label_route))
        .fallback(|| async { Problem::not_found() })
        .layer(DefaultBodyLimit::max(middleware::BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::limit_body))
        .layer(axum::middleware::from_fn(crate::serve::body_deadline))
        .layer(axum::middleware::from_fn(middleware::problem_errors))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .with_state(state)
}

/// `Paytree-Position` and `ETag` for a command that succeeded.
fn done_headers(done: &Done) -> [(header::HeaderName, String); 2] {
    [
        (
            header::HeaderName::from_static(POSITION),
            done.position.to_string(),
        ),
        (header::ETAG, format!("\"{}\"", done.method.version)),
    ]
}

/// `limit`: 1–200, default 50.
fn limit(limit: Option<u32>) -> Result<usize, Problem> {
    match limit.unwrap_or(50) {
        n @ 1..=200 => Ok(n as usize),
        _ => Err(Problem::invalid_request("limit must be between 1 and 200.")),
    }
}

/// Ids and cursors are documented as int64: anything larger is a malformed request.
fn within_int64(name: &str, value: Option<u64>) -> Result<Option<u64>, Problem> {
    match value {
        Some(v) if v > i64::MAX as u64 => Err(Problem::invalid_request(format!(
            "{name} must be at most {}.",
            i64::MAX
        ))),
        v => Ok(v),
    }
}
