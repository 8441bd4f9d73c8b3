//! The body deadline: a request body that has not arrived within [`Limits::body_timeout`] of
//! its head fails to read, and the request is answered 408.
//!
//! [`Limits::body_timeout`]: super::Limits::body_timeout

use crate::http::problem::Problem;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// When the body of a request must have arrived: set as the request's head is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyDeadline {
    pub(super) at: Instant,
    pub(super) after: Duration,
}

/// Router layer: a request body that has not arrived by its deadline fails to read, and the
/// request is answered 408 (a problem) with `Connection: close`, whatever the handler made
/// of the failed read. Requests without a deadline (not from [`super::Server::serve`]) pass as is.
pub async fn body_deadline(request: Request, next: Next) -> Response {
    let deadline = request.extensions().get::<BodyDeadline>().copied();
    let Some(deadline) = deadline.filter(|_| !request.body().is_end_stream()) else {
        return next.run(request).await;
    };
    let expired = Arc::new(AtomicBool::new(false));
    let timed = expired.clone();
    let request = request.map(|inner| {
        Body::new(TimedBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline.at)),
            expired: timed,
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::SeqCst) {
        return response;
    }
    let detail = format!(
        "The request body did not arrive within {} ms of its head.",
        deadline.after.as_millis()
    );
    let title = "Request body timeout";
    let mut response = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        title,
        detail,
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline has passed.
struct TimedBody {
    inner: Body,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err(axum::Error::new("the request body timed out"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
