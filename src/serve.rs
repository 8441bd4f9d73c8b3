//! The HTTP server under paytree and `paytree provider`: one accept loop for HTTP and HTTPS
//! (HTTP/1.1, hyper), with the bounds a slow or hostile client must not get around:
//!
//! - at most [`Limits::max_connections`] connections; past it the loop stops accepting, so
//!   new connections wait in the kernel's listen backlog until one closes;
//! - the TLS handshake and every request head must arrive within [`Limits::header_timeout`]
//!   (an idle keep-alive connection is closed after it too);
//! - a request body must arrive within [`Limits::body_timeout`] of its head, else 408
//!   ([`body_deadline`], a layer of the router) and the connection is closed;
//! - after the shutdown signal the listener closes and the connections drain (see `drain.rs`:
//!   `Connection: close`, idle ones closed after a short grace); when
//!   [`Limits::shutdown_grace`] is over, requests still in flight are answered 503 unless
//!   their command has started, and the rest of the connections are dropped.
//!
//! Every request carries the client's address as `ConnectInfo<SocketAddr>`.

mod body;
mod drain;

use crate::tls::ServerTls;
use axum::body::Body;
use axum::extract::ConnectInfo;
use body::BodyDeadline;
pub use body::body_deadline;
use drain::{Drain, Phase};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use tower::ServiceExt;

/// After the deadline, how long requests whose command or write had started are waited for:
/// longer than the kernel lets a started command run with the default timeouts (two payment
/// calls and three store writes, 36 s), so that they get their own answer.
const STARTED_WAIT: Duration = Duration::from_secs(60);

/// After the last answer, how long connections get to send it before they are dropped.
const LAST_WRITES: Duration = Duration::from_secs(1);

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

    /// Serves `router` on `listener` until `shutdown` completes; then stops accepting, drains
    /// the open connections for at most the shutdown grace, answers what is still in flight
    /// (503 unless it has started), drops the connections still open, and returns.
    pub async fn serve(
        &self,
        listener: TcpListener,
        router: axum::Router,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let drain = Drain::new();
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
                        drain: drain.clone(),
                        _permit: permit,
                    };
                    let tls = self.tls.clone();
                    let handshake = limits.header_timeout;
                    connections.spawn(connection.run(stream, tls, handshake));
                }
            }
        }
        drop(listener);
        drain.enter(Phase::Draining);
        self.finish(connections, drain).await;
    }

    /// Waits for the connections to close within the shutdown grace; after it, answers the
    /// requests still in flight and drops what is left.
    async fn finish(&self, mut connections: JoinSet<()>, drain: Drain) {
        let grace = self.limits.shutdown_grace;
        if timeout(grace, join_all(&mut connections)).await.is_ok() {
            return;
        }
        tracing::warn!(
            open = connections.len(),
            grace_ms = grace.as_millis() as u64,
            "shutdown grace over: requests in flight are answered 503 unless their command has started; the connections still open then are dropped"
        );
        drain.enter(Phase::Deadline);
        if timeout(STARTED_WAIT, drain.requests_answered())
            .await
            .is_err()
        {
            tracing::error!(
                wait_s = STARTED_WAIT.as_secs(),
                "requests whose command had started are still unanswered: dropping them"
            );
        }
        let _ = timeout(LAST_WRITES, join_all(&mut connections)).await;
        connections.shutdown().await;
    }
}

async fn join_all(connections: &mut JoinSet<()>) {
    while connections.join_next().await.is_some() {}
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
    drain: Drain,
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
            drain,
            _permit,
        } = self;
        let answers = drain.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(BodyDeadline {
                at: Instant::now() + body_timeout,
                after: body_timeout,
            });
            let work = router.clone().oneshot(request);
            let answers = answers.clone();
            async move {
                let work = async { work.await.unwrap_or_else(|never| match never {}) };
                Ok::<_, Infallible>(answers.answer(work).await)
            }
        });
        let connection = http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = drain.time_to_close() => {
                // Closes it now if idle, else after the answer in progress.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
