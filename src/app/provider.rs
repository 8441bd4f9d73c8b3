//! `paytree provider`: the simulated payment system served alone, over HTTP or HTTPS.

use super::announce;
use crate::config::Secret;
use crate::provider::Simulator;
use crate::serve::Server;
use crate::tls::ServerTls;
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;

/// How `paytree provider` serves besides its faults: HTTPS, and the key it asks for.
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    /// Calls without `Authorization: Bearer <key>` are refused with 401.
    pub api_key: Option<Secret>,
    pub tls: Option<ServerTls>,
}

impl ProviderOptions {
    /// The server these options make: HTTPS or HTTP, with the default limits.
    pub fn server(&self) -> Server {
        Server {
            tls: self.tls.clone(),
            ..Server::default()
        }
    }
}

/// Binds `listen` and runs the simulated payment system alone until `shutdown` completes.
pub async fn provider(
    listen: std::net::SocketAddr,
    sim: Simulator,
    options: ProviderOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    announce(&format!(
        "paytree provider listening on {}://{}",
        options.server().scheme(),
        listener.local_addr()?
    ));
    run_provider_with(listener, Arc::new(sim), options, shutdown).await
}

/// Serves the simulated payment system over plain HTTP, without a key, on `listener` until
/// `shutdown` completes and every open connection has closed (or the grace is over).
pub async fn run_provider(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_provider_with(listener, sim, ProviderOptions::default(), shutdown).await
}

/// [`run_provider`] with HTTPS and a key, as `options` say.
pub async fn run_provider_with(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    options: ProviderOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let server = options.server();
    let router = crate::provider::server::router(sim, options.api_key);
    server.serve(listener, router, shutdown).await;
    Ok(())
}
