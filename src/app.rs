//! Start order (the socket, TLS files, data dir, secret, store, payment system, actor tree,
//! HTTP) and shutdown order (readiness off, in-flight requests finish within the grace, the
//! tree drains, exit); [`serve`] also hands over to a new process on SIGHUP. [`build`] and
//! [`App::run`] take the steps apart so tests can serve on a listener of their own.

pub(crate) mod files;
mod provider;
mod store;

use store::{check_handed_secret, open_postgres, open_redb};

pub use provider::{ProviderOptions, provider, run_provider, run_provider_with};

use crate::actors::notifier::WebhookChannel;
use crate::actors::webhook::Webhook;
use crate::actors::{Actors, TreeOptions};
use crate::auth::{KeyHasher, Keys};
use crate::config::{Overrides, ProviderSetting, Settings, StoreSetting};
use crate::domain::paymethod::Fingerprinter;
use crate::handoff::{self, Exe, Handoff, Ready};
use crate::http::{self, AppState};
use crate::listen::{self, Inherited, Origin};
use crate::maintenance::DataDir;
use crate::provider::{HttpPaymentSystem, PaymentSystem, Simulator};
use crate::serve::Server;
use crate::systemd;
use crate::telemetry;
use crate::tls::{ClientTls, ServerTls};
use anyhow::Context;
use std::future::Future;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The flags of `paytree serve`: the settings, and the switches that exist for tests and
/// rebuilds only. Tests parse the same flags to start paytree in-process.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: Box<Overrides>,
    /// A TOML file with the same settings (snake_case keys); flags and environment win.
    #[arg(long, env = "PAYTREE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Empty the mypage views at start and fold the whole event log again.
    #[arg(long)]
    pub rebuild_views: bool,
    /// Serve /admin/test/* fault injection (for tests only).
    #[arg(long, hide = true)]
    pub test_hooks: bool,
    /// Acknowledge registrations before they are durable (a deliberate bug, for the
    /// crash test's negative control only).
    #[arg(long, hide = true)]
    pub test_ack_before_commit: bool,
}

impl ServeArgs {
    /// The resolved settings: flags and environment over the config file over the defaults.
    pub fn settings(self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(*self.settings, self.config.as_deref())?;
        // Only from the environment: a key on the command line would show in `ps`.
        if let Ok(raw) = std::env::var("PAYTREE_ADMIN_KEY") {
            let key = crate::auth::ApiKey::parse(raw.trim()).context(
                "PAYTREE_ADMIN_KEY must be a key: ptk_ and at least 32 characters of A-Z a-z 0-9",
            )?;
            settings.access.admin_key = Some(key);
        }
        settings.rebuild_views = self.rebuild_views;
        settings.test_hooks = self.test_hooks;
        settings.test_ack_before_commit = self.test_ack_before_commit;
        Ok(settings)
    }
}

/// What `paytree serve` was started with besides its settings: a listening socket handed
/// over (by systemd or by the paytree it takes over from), and its own binary, for a handoff.
#[derive(Debug)]
pub struct Launch {
    pub inherited: Option<Inherited>,
    pub exe: Exe,
}

/// Serves on the socket handed over (else binds `settings.listen`), builds paytree and runs it
/// until `shutdown` completes or a new process takes over on SIGHUP, then drains and returns.
/// Prints "paytree listening on http://ADDR" (https with TLS) once it is ready, then writes
/// the pid file and tells systemd.
pub async fn serve(
    settings: Settings,
    launch: Launch,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (listener, origin, ready) = listen::listener(settings.listen, launch.inherited).await?;
    // Before anything slow: from here on a SIGHUP never ends the process (its default).
    let refusal = (origin == Some(Origin::Systemd) || systemd::is_notified()).then_some(
        "paytree runs under systemd: restart it with `systemctl restart paytree`, which fails no request when systemd holds the socket (paytree.socket)",
    );
    let socket = listener.as_fd().try_clone_to_owned()?;
    let mut handoff = Handoff::listen(launch.exe, socket, refusal)?;
    let pid_file = settings.pid_file.clone();
    let app = build_with(settings, ready).await?;
    handoff.expect_secret(app.secret_check.clone());
    announce(&format!(
        "paytree listening on {}://{}",
        app.scheme(),
        listener.local_addr()?
    ));
    if let Some(path) = &pid_file {
        files::write_private(path, std::process::id().to_string().as_bytes())?;
    }
    systemd::notify("READY=1");
    let stop = async move {
        let stop = tokio::select! {
            () = shutdown => {
                handoff.stop();
                Stop::Terminate
            }
            pid = handoff.taken_over() => Stop::HandedOver(pid),
        };
        systemd::notify("STOPPING=1");
        stop
    };
    let stopped = app.run_until(listener, stop).await?;
    // A process that took over has rewritten it (or will, once it serves).
    if let (Stop::Terminate, Some(path)) = (stopped, &pid_file)
        && handoff::read_pid(path).is_ok_and(|pid| pid == std::process::id())
    {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Why a serving paytree stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM or Ctrl-C: readiness off (for `--shutdown-unready-ms`) before the listener
    /// closes.
    Terminate,
    /// A new process (this id) took over the socket: no more accepting at once.
    HandedOver(u32),
}

/// A built paytree, not yet serving: the actor tree is running and the router is ready.
pub struct App {
    actors: Actors,
    router: axum::Router,
    server: Server,
    accepting: Arc<AtomicBool>,
    data_dir: PathBuf,
    provider: ProviderSetting,
    /// The installation secret's check value (hex), for a process this one hands over to.
    secret_check: String,
}

/// Opens the data dir, the secret and the store, starts the payment system's client and the
/// actor tree, and builds the router. Readiness stays off until [`App::run`].
pub async fn build(settings: Settings) -> anyhow::Result<App> {
    build_with(settings, None).await
}

/// [`build`]; after a handoff, it says `ready` once everything but the store is checked, and
/// waits for the process handing over to close the store.
async fn build_with(settings: Settings, handoff: Option<Ready>) -> anyhow::Result<App> {
    // First, so that nothing recorded during start-up is lost.
    let metrics = telemetry::metrics();
    // Before anything is created: TLS files that cannot work are refused at once.
    let server = Server {
        tls: match &settings.tls.serve {
            Some((cert, key)) => Some(ServerTls::from_pem_files(cert, key)?),
            None => None,
        },
        limits: settings.limits.clone(),
    };
    let client_tls = ClientTls::new(settings.tls.ca_file.as_deref())?;
    files::create_data_dir(&settings.data_dir)?;
    let secret = match &settings.secret {
        Some(given) => files::parse_secret(given.expose())
            .context("PAYTREE_SECRET must be 64 hex digits (32 bytes)")?,
        None => files::load_or_create_secret(&settings.data_dir)?,
    };
    let secret_check = hex::encode(files::secret_check(&secret));
    let fingerprinter = Fingerprinter::new(secret);
    let store = match &settings.store {
        StoreSetting::Redb => open_redb(&settings, handoff, &secret_check).await?,
        StoreSetting::Postgres { url, events } => {
            if let Some(ready) = handoff {
                check_handed_secret(&secret_check)?;
                // Nothing to wait for: replicas share the database.
                ready.send();
            }
            open_postgres(url.expose(), events).await?
        }
    };
    // The same installation secret, under another label (see `KeyHasher::hash`).
    let hasher = KeyHasher::new(secret);
    files::check_secret(&store, &secret).await?;
    files::bootstrap_admin_key(&store, &hasher, &settings).await?;
    if settings.rebuild_views {
        store
            .reset_views()
            .await
            .context("emptying the mypage views")?;
        tracing::info!("mypage views emptied; the projector folds the event log from the start");
    }
    let webhook = match settings.notify.webhook.clone() {
        Some(config) => Some(WebhookChannel {
            webhook: Webhook::new(config, settings.notify.timeout, &client_tls)?,
            retries: settings.notify.retries.clone().into(),
        }),
        None => None,
    };
    let system = match &settings.provider {
        ProviderSetting::Embedded => PaymentSystem::Embedded(Arc::new(Simulator::default())),
        ProviderSetting::Url(url) => PaymentSystem::Http(HttpPaymentSystem::new(
            url,
            settings.provider_key.as_ref(),
            &client_tls,
        )?),
    };
    let store_for_keys = store.clone();
    let actors = Actors::start(TreeOptions {
        webhook,
        ..TreeOptions::from_settings(&settings, store, system, fingerprinter)
    })
    .await
    .context("starting the actor tree")?;

    let keys = Keys::load(
        &store_for_keys,
        hasher,
        actors.writer(),
        settings.access.rate_limit_per_key,
    )
    .await
    .context("reading the API keys")?;
    keys.keep_last_use();
    let limits = crate::auth::Limits::new(settings.access.auth_failures_per_minute);
    limits.keep_forgetting();
    let accepting = Arc::new(AtomicBool::new(false));
    let data_dir = DataDir::new(settings.data_dir.clone(), store_for_keys);
    let state = AppState::new(
        actors.clone(),
        keys,
        limits,
        metrics,
        accepting.clone(),
        data_dir,
        settings.test_hooks,
    );
    Ok(App {
        router: http::router(state),
        server,
        actors,
        accepting,
        data_dir: settings.data_dir,
        provider: settings.provider,
        secret_check,
    })
}

impl App {
    /// The router with every route and middleware, for driving it without a socket.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// `https` when serving with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.server.scheme()
    }

    /// Serves on `listener` until `shutdown` completes: readiness turns off, in-flight
    /// requests finish (for at most the shutdown grace), then the tree drains.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = async {
            shutdown.await;
            Stop::Terminate
        };
        self.run_until(listener, stop).await.map(drop)
    }

    /// [`App::run`] until `stop` says why; after a handoff the listener closes at once, since
    /// the new process serves the same socket. Why it stopped.
    pub async fn run_until(
        self,
        listener: tokio::net::TcpListener,
        stop: impl Future<Output = Stop> + Send + 'static,
    ) -> anyhow::Result<Stop> {
        let addr = listener.local_addr()?;
        // Before the first await: no request can be accepted while readiness is still off.
        self.accepting.store(true, Ordering::SeqCst);
        tracing::info!(%addr, scheme = self.scheme(), data_dir = %self.data_dir.display(), provider = ?self.provider, "paytree started");
        let draining = self.accepting.clone();
        let unready = self.server.limits.unready_before_stop;
        let (stopped, why) = tokio::sync::oneshot::channel();
        let shutdown = async move {
            let stop = stop.await;
            draining.store(false, Ordering::SeqCst);
            match stop {
                Stop::Terminate if !unready.is_zero() => {
                    let ms = unready.as_millis() as u64;
                    tracing::info!(ms, "shutting down: readiness off, still accepting");
                    tokio::time::sleep(unready).await;
                }
                Stop::Terminate => {}
                Stop::HandedOver(pid) => {
                    tracing::info!(pid, "handing over: the new process takes the socket");
                }
            }
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopped.send(stop);
        };
        self.server.serve(listener, self.router, shutdown).await;
        self.actors.shutdown().await;
        tracing::info!("paytree stopped");
        Ok(why.await.unwrap_or(Stop::Terminate))
    }
}

/// One line on stdout with the address, for people and for tests that bind port 0.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
