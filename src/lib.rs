//! paytree: a payment-method and order service as one supervised actor tree around one
//! embedded store.
//!
//! - [`domain`]: validated types and rules (numbers, customers, the catalogue, one folder per
//!   aggregate kind: payment methods, orders, shipments; the event log's envelope); no I/O.
//! - [`store`]: redb tables, the typed commands and the group commit; the source of truth.
//!   [`store::postgres`] and [`bus`] are the beginnings of N replicas on PostgreSQL and NATS
//!   JetStream (not yet served from).
//! - [`provider`]: the payment system: an HTTP client and the simulated one.
//! - [`actors`]: the generic [`actors::kernel`] (aggregate host, router per kind, writer
//!   handle, log tail, supervisor over child specs) and the tree built on it — store writer,
//!   payment (circuit breaker, bulkhead), notifier, projector, reconciler, a router per
//!   aggregate kind (payment methods, orders, shipments) with one actor per aggregate,
//!   shipping and the cancellation saga — and [`actors::Actors`], the typed handle that is
//!   the HTTP layer's only way in.
//! - [`auth`]: API keys and roles, the keys' registry, rate limits and the audit log.
//! - [`http`]: axum routes, problem responses, OpenAPI and `/metrics`.
//! - [`serve`] and [`tls`]: the HTTP(S) server with its limits on slow clients and its drain
//!   (with [`fate`], which decides whether a request in flight at the deadline may be answered
//!   503), and the certificates and roots of both sides.
//! - [`listen`], [`handoff`] and [`systemd`]: where the listening socket comes from (systemd's
//!   socket activation, the process handing over on SIGHUP, or a bind), the handoff itself,
//!   and what systemd is told. These are Unix only.
//! - [`maintenance`]: one node's data: online backups (the server's side and `paytree
//!   backup`), `paytree restore` and `paytree compact`, and the data directory's disk use.
//! - [`config`] and [`app`]: settings, start and shutdown order; [`app::build`] and
//!   [`app::App::run`] serve on any listener, which is how tests run paytree in-process.

pub mod actors;
pub mod app;
pub mod auth;
pub mod bus;
pub mod config;
pub mod domain;
pub mod fate;
pub mod handoff;
pub mod http;
pub mod listen;
pub mod maintenance;
pub mod provider;
pub mod serve;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod tls;
