//! Where `paytree serve`'s listening socket comes from: systemd's socket activation
//! (`LISTEN_FDS`), the paytree process it takes over from (a handoff, see
//! [`crate::handoff`]), or else a bind of `--listen`. A socket that outlives the process is
//! what lets a restart or an upgrade refuse no connection: while no process accepts, new
//! connections wait in the socket's backlog.

use crate::handoff::Ready;
use anyhow::Context;
use listenfd::ListenFd;

/// Who handed the socket over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// systemd, from a `.socket` unit.
    Systemd,
    /// The paytree process this one takes over from.
    Handoff,
}

/// A listening socket this process was started with.
#[derive(Debug)]
pub struct Inherited {
    pub listener: std::net::TcpListener,
    pub origin: Origin,
    /// From a handoff: where to say that this process is ready to take over.
    pub ready: Option<Ready>,
}

/// The listening socket this process was started with, if any (`LISTEN_FDS=1`, the socket at
/// fd 3; `LISTEN_PID`, when set, must be this process). It takes `LISTEN_FDS` and `LISTEN_PID`
/// out of the environment, which is only sound before any other thread runs: call it first
/// thing in `main`, before the runtime and the log's thread start.
pub fn take_inherited() -> anyhow::Result<Option<Inherited>> {
    let mut fds = ListenFd::from_env();
    match fds.len() {
        0 => return Ok(None),
        1 => {}
        n => anyhow::bail!("paytree serves one socket, and was handed {n} (LISTEN_FDS={n})"),
    }
    let listener = fds
        .take_tcp_listener(0)
        .context("LISTEN_FDS: fd 3 is not a TCP socket")?
        .context("LISTEN_FDS: no socket at fd 3")?;
    // systemd hands it over blocking; tokio needs it not to be.
    listener.set_nonblocking(true)?;
    let ready = Ready::from_env();
    let origin = match ready {
        Some(_) => Origin::Handoff,
        None => Origin::Systemd,
    };
    Ok(Some(Inherited {
        listener,
        origin,
        ready,
    }))
}

/// The socket handed over, else `listen` bound; who handed it over, and (after a
/// handoff) where to say this process is ready.
pub async fn listener(
    listen: std::net::SocketAddr,
    inherited: Option<Inherited>,
) -> anyhow::Result<(tokio::net::TcpListener, Option<Origin>, Option<Ready>)> {
    let Some(inherited) = inherited else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {}", listen))?;
        tracing::info!(addr = %listen, "listening socket bound (--listen)");
        return Ok((listener, None, None));
    };
    let listener = tokio::net::TcpListener::from_std(inherited.listener)?;
    let from = match inherited.origin {
        Origin::Systemd => "systemd (socket activation)",
        Origin::Handoff => "the paytree process this one takes over from",
    };
    tracing::info!(addr = %listener.local_addr()?, from, "listening socket handed over; --listen is not used");
    Ok((listener, Some(inherited.origin), inherited.ready))
}
