//! Start order (data dir, secret, store, payment system, actor tree, HTTP) and shutdown order
//! (readiness off, in-flight requests finish, the tree drains, exit).

use crate::actors::notifier::WebhookChannel;
use crate::actors::webhook::Webhook;
use crate::actors::{Actors, TreeOptions};
use crate::config::{ProviderSetting, Settings};
use crate::domain::paymethod::Fingerprinter;
use crate::http::{self, AppState};
use crate::provider::{HttpPaymentSystem, PaymentSystem, Simulator};
use crate::store::Store;
use crate::telemetry;
use anyhow::Context;
use rand::Rng;
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs paytree until `shutdown` completes, then drains and returns.
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // First, so that nothing recorded during start-up is lost.
    let metrics = telemetry::metrics();
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let fingerprinter = Fingerprinter::new(load_or_create_secret(&settings.data_dir)?);
    let db_path = settings.data_dir.join("paytree.redb");
    let store =
        Store::open(&db_path).with_context(|| format!("opening store {}", db_path.display()))?;
    if settings.rebuild_views {
        store.reset_views().context("emptying the mypage views")?;
        tracing::info!("mypage views emptied; the projector folds the event log from the start");
    }
    let webhook = settings
        .notify
        .webhook
        .clone()
        .map(|config| WebhookChannel {
            webhook: Webhook::new(config, settings.notify.timeout),
            retries: settings.notify.retries.clone().into(),
        });
    let system = match &settings.provider {
        ProviderSetting::Embedded => PaymentSystem::Embedded(Arc::new(Simulator::default())),
        ProviderSetting::Url(url) => PaymentSystem::Http(HttpPaymentSystem::new(url)),
    };
    let actors = Actors::start(TreeOptions {
        webhook,
        ..TreeOptions::from_settings(&settings, store, system, fingerprinter)
    })
    .await
    .context("starting the actor tree")?;

    let accepting = Arc::new(AtomicBool::new(false));
    let state = AppState::new(actors.clone(), metrics, accepting.clone())
        .with_test_hooks(settings.test_hooks);
    let router = http::router(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    accepting.store(true, Ordering::SeqCst);
    announce(&format!("paytree listening on http://{addr}"));
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), provider = ?settings.provider, "paytree started");

    let draining = accepting.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await?;
    actors.shutdown().await;
    tracing::info!("paytree stopped");
    Ok(())
}

/// Runs the simulated payment system alone until `shutdown` completes.
pub async fn provider(
    listen: std::net::SocketAddr,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    announce(&format!(
        "paytree provider listening on http://{}",
        listener.local_addr()?
    ));
    axum::serve(listener, crate::provider::server::router(Arc::new(sim)))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// One line on stdout with the address, for people and for tests that bind port 0.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// This installation's secret for number fingerprints: 32 random bytes in `secret.key`,
/// kept beside the store and never inside it.
fn load_or_create_secret(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join("secret.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let bytes = hex::decode(text.trim()).context("secret.key is not hex")?;
        return bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("secret.key must hold 32 bytes"));
    }
    let key: [u8; 32] = rand::rng().random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex::encode(key).as_bytes())?;
    file.sync_all()?;
    Ok(key)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
