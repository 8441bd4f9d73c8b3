//! How a server stops once its listener has closed, so that neither a kept-alive client nor a
//! hung one turns a restart into failed requests or a process that never exits:
//!
//! - draining: every answer says `Connection: close` (hyper closes the connection after it),
//!   and a connection that stays idle is closed only after [`IDLE_GRACE`]: closing it at once
//!   would race with its client sending the next request on it, which would then fail;
//! - at the deadline (the shutdown grace is over), a request still in flight is answered 503
//!   `shutting-down` if it can be abandoned ([`Fate::abandon`]: nothing it set off has
//!   started); one whose command or write has started gets its own answer when that ends.

use crate::fate::Fate;
use crate::http::problem::Problem;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a connection that stays idle during a drain is kept open: its client may be
/// about to send a request on it, which is answered (with `Connection: close`) instead.
pub const IDLE_GRACE: Duration = Duration::from_secs(1);

/// Where a server is in its life, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    /// Accepting and serving.
    Serving,
    /// The listener is closed; connections finish and close.
    Draining,
    /// The shutdown grace is over: what can be abandoned is answered 503.
    Deadline,
}

/// The phase and the count of requests in flight, shared by the accept loop, its connections
/// and their requests. Cheap to clone.
#[derive(Clone)]
pub(super) struct Drain {
    phase: Arc<watch::Sender<Phase>>,
    requests: Arc<watch::Sender<usize>>,
}

impl Drain {
    pub(super) fn new() -> Self {
        Self {
            phase: Arc::new(watch::Sender::new(Phase::Serving)),
            requests: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Moves on to `phase`.
    pub(super) fn enter(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Completes once the server has reached `phase`.
    async fn reached(&self, phase: Phase) {
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = self.phase.subscribe().wait_for(|now| *now >= phase).await;
    }

    /// Completes when a connection should be closed: once it has been kept [`IDLE_GRACE`]
    /// into the drain, or at the deadline.
    pub(super) async fn time_to_close(&self) {
        self.reached(Phase::Draining).await;
        tokio::select! {
            () = tokio::time::sleep(IDLE_GRACE) => {}
            () = self.reached(Phase::Deadline) => {}
        }
    }

    /// Completes once no request is in flight.
    pub(super) async fn requests_answered(&self) {
        let _ = self.requests.subscribe().wait_for(|n| *n == 0).await;
    }

    /// The answer to one request: `work`'s, with `Connection: close` once draining; at the
    /// deadline, 503 instead if the request can be abandoned.
    pub(super) async fn answer(&self, work: impl Future<Output = Response>) -> Response {
        let _counted = Counted::new(&self.requests);
        let fate = Fate::default();
        let work = fate.clone().scope(work);
        tokio::pin!(work);
        let mut response = tokio::select! {
            biased;
            response = &mut work => response,
            () = self.reached(Phase::Deadline) => {
                if fate.abandon() {
                    tracing::warn!("a request in flight at the shutdown deadline is answered 503; nothing of it was done");
                    shutting_down()
                } else {
                    work.await
                }
            }
        };
        if *self.phase.borrow() > Phase::Serving {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// One request in flight, counted while it lives.
struct Counted(Arc<watch::Sender<usize>>);

impl Counted {
    fn new(requests: &Arc<watch::Sender<usize>>) -> Self {
        requests.send_modify(|n| *n += 1);
        Self(requests.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// 503 `shutting-down`: the request was given up before anything of it was done.
fn shutting_down() -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting-down",
        "Shutting down",
        "The server stopped before this request could be carried out; nothing of it was done. Send it again.",
    )
    .retry_after(1)
    .into_response()
}
