//! Start order (TLS files, data dir, secret, store, payment system, actor tree, HTTP) and
//! shutdown order (readiness off, in-flight requests finish within the grace, the tree drains,
//! exit). [`build`] and [`App::run`] take the steps apart so tests can serve on a listener of
//! their own.

use crate::actors::notifier::WebhookChannel;
use crate::actors::webhook::Webhook;
use crate::actors::{Actors, TreeOptions};
use crate::auth::{Bootstrap, KeyHasher, Keys};
use crate::config::{Overrides, ProviderSetting, Secret, Settings};
use crate::domain::paymethod::Fingerprinter;
use crate::http::{self, AppState};
use crate::maintenance::DataDir;
use crate::provider::{HttpPaymentSystem, PaymentSystem, Simulator};
use crate::serve::Server;
use crate::store::Store;
use crate::telemetry;
use crate::tls::{ClientTls, ServerTls};
use anyhow::Context;
use rand::Rng;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
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

/// Binds `settings.listen`, builds paytree and runs it until `shutdown` completes, then
/// drains and returns. Prints "paytree listening on http://ADDR" (https with TLS) once it is
/// ready.
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let app = build(settings).await?;
    announce(&format!(
        "paytree listening on {}://{}",
        app.scheme(),
        listener.local_addr()?
    ));
    app.run(listener, shutdown).await
}

/// A built paytree, not yet serving: the actor tree is running and the router is ready.
pub struct App {
    actors: Actors,
    router: axum::Router,
    server: Server,
    accepting: Arc<AtomicBool>,
    data_dir: PathBuf,
    provider: ProviderSetting,
}

/// Opens the data dir, the secret and the store, starts the payment system's client and the
/// actor tree, and builds the router. Readiness stays off until [`App::run`].
pub async fn build(settings: Settings) -> anyhow::Result<App> {
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
    create_data_dir(&settings.data_dir)?;
    crate::maintenance::remove_unfinished_backups(&settings.data_dir);
    let secret = load_or_create_secret(&settings.data_dir)?;
    let fingerprinter = Fingerprinter::new(secret);
    // It holds the payment system's tokens: owner-only, like the secret.
    let db_path = settings.data_dir.join("paytree.redb");
    create_private_file(&db_path)?;
    let store =
        Store::open(&db_path).with_context(|| format!("opening store {}", db_path.display()))?;
    // The same installation secret, under another label (see `KeyHasher::hash`).
    let hasher = KeyHasher::new(secret);
    bootstrap_admin_key(&store, &hasher, &settings)?;
    if settings.rebuild_views {
        store.reset_views().context("emptying the mypage views")?;
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
        let addr = listener.local_addr()?;
        // Before the first await: no request can be accepted while readiness is still off.
        self.accepting.store(true, Ordering::SeqCst);
        tracing::info!(%addr, scheme = self.scheme(), data_dir = %self.data_dir.display(), provider = ?self.provider, "paytree started");
        let draining = self.accepting.clone();
        let unready = self.server.limits.unready_before_stop;
        let shutdown = async move {
            shutdown.await;
            draining.store(false, Ordering::SeqCst);
            if !unready.is_zero() {
                let ms = unready.as_millis() as u64;
                tracing::info!(ms, "shutting down: readiness off, still accepting");
                tokio::time::sleep(unready).await;
            }
            tracing::info!("shutting down: finishing in-flight requests");
        };
        self.server.serve(listener, self.router, shutdown).await;
        self.actors.shutdown().await;
        tracing::info!("paytree stopped");
        Ok(())
    }
}

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

/// One line on stdout with the address, for people and for tests that bind port 0.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The data dir, created owner-only (0700) if missing; an existing one is left as it is.
pub(crate) fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating data dir {}", dir.display()))
}

/// Opens options that create a new file readable and writable by its owner only (0600).
pub(crate) fn new_private_file() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `path` empty and owner-only if it does not exist yet; warns if an existing one is
/// open to others (it is left as it is: its owner may have meant it).
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    match new_private_file().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the store is open to other users although it holds the payment system's tokens: chmod 600 it");
                }
            }
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// This installation's secret for number fingerprints: 32 random bytes in `secret.key`,
/// kept beside the store and never inside it.
fn load_or_create_secret(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join("secret.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return parse_secret(&text);
    }
    let key: [u8; 32] = rand::rng().random();
    let mut file = new_private_file()
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex::encode(key).as_bytes())?;
    file.sync_all()?;
    Ok(key)
}

/// An installation secret as `secret.key` holds it: 64 hex digits (32 bytes).
pub(crate) fn parse_secret(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("secret.key is not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("secret.key must hold 32 bytes"))
}

/// Makes sure an admin key exists (see [`crate::auth::bootstrap`]); a new one is written to
/// `<data-dir>/admin.key` (mode 0600), and the log names the file, never the key.
fn bootstrap_admin_key(
    store: &Store,
    hasher: &KeyHasher,
    settings: &Settings,
) -> anyhow::Result<()> {
    let given = settings.access.admin_key.as_ref();
    match crate::auth::bootstrap(store, hasher, given).context("making the admin key")? {
        Bootstrap::Existing => {}
        Bootstrap::FromEnvironment => {
            tracing::info!("PAYTREE_ADMIN_KEY is stored as an admin key");
        }
        Bootstrap::Made(key) => {
            let path = settings.data_dir.join("admin.key");
            write_private(&path, key.expose().as_bytes())?;
            tracing::info!(file = %path.display(), "made an admin key; it is in this file (mode 0600)");
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by its owner only, replacing any file there at once
/// (written beside it, synced, then renamed).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file = new_private_file()
        .open(&temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
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
