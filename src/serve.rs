//! The HTTP server under paytree and `paytree provider`: one accept loop for HTTP and HTTPS
//! (HTTP/1.1, hyper), with the bounds a slow or hostile client must not get around:
//!
//! - at most [`Limits::max_connections`] connections; past it the loop stops accepting, so
//!   new connections wait in the kernel's listen backlog until one closes;
//! - the TLS handshake and every request head must arrive within [`Limits::header_timeout`]
//!   (an idle keep-alive connection is closed after it too);
//! - a request body must arrive within [`Limits::body_timeout`] of its head, else 408
//!   ([`body_deadline`], a layer of the router) and the connection is closed;
//! - after the shutdown signal, connections get [`Limits::shutdown_grace`] to finish their
//!   requests; then they are dropped.
//!
//! Every request carries the client's address as `ConnectInfo<SocketAddr>`.

use crate::http::problem::Problem;
use crate::tls::ServerTls;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long clients may take, and how many may be connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
    /// After the shutdown signal, how long to go on accepting with readiness off (so that a
    /// balancer sees `/readyz` fail and stops sending) before the listener closes.
    pub unready_before_stop: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
            unready_before_stop: Duration::ZERO,
        }
    }
}

/// How to serve: plain HTTP or HTTPS, within [`Limits`].
#[derive(Debug, Clone, Default)]
pub struct Server {
    pub tls: Option<ServerTls>,
    pub limits: Limits,
}

impl Server {
    /// `https` or `http`, for the URL a server announces.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets
    /// open connections finish their requests for at most the shutdown grace, drops those
    /// still open, and returns.
    pub async fn serve(
        &self,
        listener: TcpListener,
        router: axum::Router,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        let limits = &self.limits;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                // Reaps finished connections (disabled while there are none).
                Some(_) = connections.join_next() => {}
                (stream, peer, permit) = accept(&listener, &permits) => {
                    let connection = Connection {
                        http: http.clone(),
                        router: router.clone(),
                        peer,
                        body_timeout: limits.body_timeout,
                        watcher: graceful.watcher(),
                        _permit: permit,
                    };
                    let tls = self.tls.clone();
                    let handshake = limits.header_timeout;
                    connections.spawn(connection.run(stream, tls, handshake));
                }
            }
        }
        drop(listener);
        let drained = tokio::time::timeout(limits.shutdown_grace, async {
            graceful.shutdown().await;
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                open = connections.len(),
                grace_ms = limits.shutdown_grace.as_millis() as u64,
                "shutdown grace over: dropping the connections still open"
            );
            connections.shutdown().await;
        }
    }
}

/// The next connection, once fewer than the most are open. Cancel-safe.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, permit),
            // The client gave up before it was accepted: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors, most likely: wait rather than spin.
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One accepted connection and what serving it needs; holds its place among the most.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    router: axum::Router,
    peer: SocketAddr,
    body_timeout: Duration,
    watcher: Watcher,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<ServerTls>, handshake: Duration) {
        let _ = stream.set_nodelay(true);
        match tls {
            None => self.serve(stream).await,
            // In this connection's own task, so a slow handshake never holds up the others.
            Some(tls) => match tokio::time::timeout(handshake, tls.acceptor().accept(stream)).await
            {
                Ok(Ok(stream)) => self.serve(stream).await,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed")
                }
                Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
            },
        }
    }

    async fn serve(self, io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static) {
        let Self {
            http,
            router,
            peer,
            body_timeout,
            watcher,
            _permit,
        } = self;
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(BodyDeadline {
                at: Instant::now() + body_timeout,
                after: body_timeout,
            });
            router.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(connection).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// When the body of a request must have arrived: set as the request's head is read.
#[derive(Debug, Clone, Copy)]
struct BodyDeadline {
    at: Instant,
    after: Duration,
}

/// Router layer: a request body that has not arrived by its deadline fails to read, and the
/// request is answered 408 (a problem) with `Connection: close`, whatever the handler made
/// of the failed read. Requests without a deadline (not from [`Server::serve`]) pass as is.
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
