//! Settings, layered: defaults < config file (TOML) < environment (`PAYTREE_*`) < flags.
//! Each setting is declared once, in [`Overrides`]; clap reads flags and environment, serde
//! reads the file, and [`Settings::resolve`] applies the defaults.

use crate::actors::BreakerConfig;
use crate::serve::Limits;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

macro_rules! overrides {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $env:literal;)*) => {
        /// Every setting of `paytree serve`, each optional so that layers can be merged.
        #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Overrides {
            $($(#[$doc])* #[arg(long, env = $env)] pub $field: Option<$ty>,)*
        }

        impl Overrides {
            /// Fields set here win over `lower`.
            fn over(self, lower: Self) -> Self {
                Self { $($field: self.$field.or(lower.$field),)* }
            }
        }
    };
}

overrides! {
    /// Address to listen on [default: 127.0.0.1:8080].
    listen: SocketAddr = "PAYTREE_LISTEN";
    /// Directory for the store and the installation secret; created if missing [default: ./data].
    data_dir: PathBuf = "PAYTREE_DATA_DIR";
    /// `embedded` (the simulated payment system, in-process) or a base URL such as http://127.0.0.1:9090 [default: embedded].
    provider: String = "PAYTREE_PROVIDER";
    /// Payment call timeout in milliseconds [default: 2000].
    payment_timeout_ms: u64 = "PAYTREE_PAYMENT_TIMEOUT_MS";
    /// Consecutive payment failures that open the breaker [default: 5].
    breaker_failures: u32 = "PAYTREE_BREAKER_FAILURES";
    /// How long the breaker stays open, in milliseconds [default: 5000].
    breaker_open_ms: u64 = "PAYTREE_BREAKER_OPEN_MS";
    /// Probe calls let through while half-open [default: 3].
    breaker_probes: u32 = "PAYTREE_BREAKER_PROBES";
    /// Most payment calls in flight at once [default: 64].
    max_payment_calls: usize = "PAYTREE_MAX_PAYMENT_CALLS";
    /// Milliseconds after which an idle payment-method actor is passivated [default: 60000].
    passivate_after_ms: u64 = "PAYTREE_PASSIVATE_AFTER_MS";
    /// Most payment-method actors live at once; past it the least recently used is passivated [default: 100000].
    max_live_aggregates: usize = "PAYTREE_MAX_LIVE_AGGREGATES";
    /// Commands queued for one payment method before more get 503 with Retry-After [default: 32].
    aggregate_mailbox: usize = "PAYTREE_AGGREGATE_MAILBOX";
    /// Milliseconds a command may wait in its payment method's queue; one that waited longer is refused with 503 without running [default: the payment timeout + 11000].
    command_queue_ms: u64 = "PAYTREE_COMMAND_QUEUE_MS";
    /// Failures of one payment-method actor within --quarantine-window-ms that quarantine it [default: 3].
    quarantine_failures: usize = "PAYTREE_QUARANTINE_FAILURES";
    /// The window for --quarantine-failures, in milliseconds [default: 60000].
    quarantine_window_ms: u64 = "PAYTREE_QUARANTINE_WINDOW_MS";
    /// Milliseconds after which a payment call without an outcome is reconciled with the payment system, and an unclaimed approval refunded [default: 60000].
    reconcile_after_ms: u64 = "PAYTREE_RECONCILE_AFTER_MS";
    /// How long Idempotency-Keys are kept, in milliseconds; docs/api.md promises at least 24 h [default: 86400000].
    idempotency_retention_ms: u64 = "PAYTREE_IDEMPOTENCY_RETENTION_MS";
    /// URL (http:// or https://) that receives every message as a signed JSON POST (besides the inbox) [default: none].
    notify_webhook: String = "PAYTREE_NOTIFY_WEBHOOK";
    /// Secret for the webhook's `Paytree-Signature` HMAC; required with --notify-webhook.
    #[arg(hide_env_values = true)]
    notify_webhook_secret: Secret = "PAYTREE_NOTIFY_WEBHOOK_SECRET";
    /// Webhook call timeout in milliseconds [default: 5000].
    notify_timeout_ms: u64 = "PAYTREE_NOTIFY_TIMEOUT_MS";
    /// Requests a second each API key may make, sustained; bursts may reach twice it; 0 turns the per-key limit off [default: 100].
    rate_limit_per_key: u32 = "PAYTREE_RATE_LIMIT_PER_KEY";
    /// Failed authentications a minute from one client address before it gets 429; 0 turns the limit off [default: 20].
    auth_failures_per_minute: u32 = "PAYTREE_AUTH_FAILURES_PER_MINUTE";
    /// Waits before each webhook retry, e.g. `500ms,1s,1m`; each is jittered down to half [default: 1s,2s,4s,8s,16s,30s,1m,2m,5m,10m,30m,1h].
    notify_retries: String = "PAYTREE_NOTIFY_RETRIES";
    /// Serve HTTPS with this PEM certificate chain, leaf first; needs --tls-key [default: plain HTTP].
    tls_cert: PathBuf = "PAYTREE_TLS_CERT";
    /// The PEM private key of --tls-cert.
    tls_key: PathBuf = "PAYTREE_TLS_KEY";
    /// A PEM file of CA certificates that the payment system's and the webhook's HTTPS clients trust besides Mozilla's and the system's roots [default: none].
    ca_file: PathBuf = "PAYTREE_CA_FILE";
    /// Sent to the payment system as `Authorization: Bearer <key>` on every call [default: none].
    #[arg(hide_env_values = true)]
    provider_key: Secret = "PAYTREE_PROVIDER_KEY";
    /// Milliseconds a client may take to send a request head (and, over HTTPS, the TLS handshake); also how long an idle connection is kept [default: 10000].
    header_timeout_ms: u64 = "PAYTREE_HEADER_TIMEOUT_MS";
    /// Milliseconds a client may take to send a request body, from the end of its head; later it is answered 408 and the connection closed [default: 15000].
    body_timeout_ms: u64 = "PAYTREE_BODY_TIMEOUT_MS";
    /// Most client connections open at once; further ones wait in the listen backlog, unaccepted, until one closes [default: 1024].
    max_connections: usize = "PAYTREE_MAX_CONNECTIONS";
    /// Milliseconds that in-flight requests get to finish after SIGTERM (or a handoff); then those that have not started are answered 503, the remaining connections are closed and the tree drains [default: 10000].
    shutdown_grace_ms: u64 = "PAYTREE_SHUTDOWN_GRACE_MS";
    /// Milliseconds paytree goes on accepting after SIGTERM with /readyz answering 503, so that a load balancer or probe stops sending before the listener closes [default: 0].
    shutdown_unready_ms: u64 = "PAYTREE_SHUTDOWN_UNREADY_MS";
    /// Where the records are kept: `redb` (one file in --data-dir, for one process; `redb:DIR` names the directory) or PostgreSQL, `postgres://user:password@host:port/database`, shared by N replicas (needs --events) [default: redb].
    #[arg(hide_env_values = true)]
    store: Secret = "PAYTREE_STORE";
    /// With a PostgreSQL store, the NATS server (JetStream on) that carries the event log between replicas: `nats://host:4222`, or `nats://host:4222/STREAM` to name the stream (PAYTREE_EVENTS otherwise) [default: none].
    events: String = "PAYTREE_EVENTS";
    /// The installation secret, 64 hex digits, instead of `<data-dir>/secret.key`; the replicas of a PostgreSQL store need the same one [default: secret.key, made at the first start].
    #[arg(hide_env_values = true)]
    secret: Secret = "PAYTREE_SECRET";
    /// A file that holds paytree's process id once it serves (for `kill -HUP`: a new process takes over the socket); a process that takes over rewrites it [default: none].
    pid_file: PathBuf = "PAYTREE_PID_FILE";
}

const DEFAULT_RETRIES: &str = "1s,2s,4s,8s,16s,30s,1m,2m,5m,10m,30m,1h";

/// Where the payment system is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSetting {
    Embedded,
    Url(String),
}

/// A secret setting (a key, a signing secret): never shown by `Debug`, so neither logs nor
/// `--help` (which hides its environment value) print it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSetting {
    /// The embedded store, `paytree.redb` in the data directory.
    Redb,
    /// PostgreSQL, shared by N replicas, and the NATS server that carries the event log.
    Postgres { url: Secret, events: String },
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreSetting,
    /// `PAYTREE_SECRET`: the installation secret, rather than `secret.key`.
    pub secret: Option<Secret>,
    /// Written with the process id once serving.
    pub pid_file: Option<PathBuf>,
    pub provider: ProviderSetting,
    /// Sent to the payment system as a bearer token.
    pub provider_key: Option<Secret>,
    pub tls: TlsFiles,
    pub limits: Limits,
    pub breaker: BreakerConfig,
    pub max_payment_calls: usize,
    pub passivate_after: Duration,
    pub aggregates: AggregateLimits,
    pub reconcile: ReconcileConfig,
    pub notify: NotifyConfig,
    pub access: AccessConfig,
    /// Empty the mypage views at start, so the projector folds the event log from scratch.
    pub rebuild_views: bool,
    /// Serve `/admin/test/*` (fault injection for tests). Never on in production.
    pub test_hooks: bool,
    /// Acknowledge registrations before their commit: a deliberate bug, so the crash test
    /// can show that it detects lost acknowledgements. Never on in production.
    pub test_ack_before_commit: bool,
}

/// Keys and the limits on callers.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `PAYTREE_ADMIN_KEY`: made the admin key at start instead of a generated one.
    pub admin_key: Option<crate::auth::ApiKey>,
    pub rate_limit_per_key: u32,
    pub auth_failures_per_minute: u32,
}

impl std::fmt::Debug for AccessConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessConfig")
            .field(
                "admin_key",
                &self.admin_key.as_ref().map(|_| "<from PAYTREE_ADMIN_KEY>"),
            )
            .field("rate_limit_per_key", &self.rate_limit_per_key)
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .finish()
    }
}

/// Bounds on the payment-method actors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateLimits {
    pub max_live: usize,
    pub mailbox: usize,
    /// How long a command may wait in its aggregate's queue before it is refused unrun.
    pub queue_wait: Duration,
    pub quarantine_failures: usize,
    pub quarantine_window: Duration,
    /// Other processes write the same store (replicas on PostgreSQL): an aggregate's state
    /// is read again before each command, since the copy in memory may be behind.
    pub reload_each_command: bool,
}

/// When open payment intents are reconciled and how long idempotency records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileConfig {
    pub after: Duration,
    pub retention: Duration,
}

/// Where messages go besides the inbox, and how hard to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub webhook: Option<WebhookConfig>,
    pub timeout: Duration,
    /// Base wait before retry 1, 2, ...; after the last one a message is `failed`.
    pub retries: Vec<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: Secret,
}

/// The TLS files, as given; [`crate::tls`] reads and checks them at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--tls-cert` and `--tls-key`: serve HTTPS.
    pub serve: Option<(PathBuf, PathBuf)>,
    /// `--ca-file`: more roots for the HTTPS clients.
    pub ca_file: Option<PathBuf>,
}

/// Parses `500ms,1s,2m,1h` into durations.
fn parse_schedule(text: &str) -> anyhow::Result<Vec<Duration>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let split = item
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(item.len());
            let (digits, unit) = item.split_at(split);
            let n: u64 = digits
                .parse()
                .with_context(|| format!("retry wait {item:?} does not start with a number"))?;
            let ms = match unit {
                "ms" => n,
                "s" | "" => n * 1_000,
                "m" => n * 60_000,
                "h" => n * 3_600_000,
                _ => bail!("retry wait {item:?}: the unit must be ms, s, m or h"),
            };
            Ok(Duration::from_millis(ms.max(1)))
        })
        .collect()
}

/// The store and the data directory from `--store`, `--events` and `--data-dir`.
fn store_setting(
    store: Option<Secret>,
    events: Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<(StoreSetting, PathBuf)> {
    let store = store.as_ref().map_or("redb", Secret::expose);
    let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./data"));
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        let Some(events) = events else {
            bail!(
                "a PostgreSQL store needs --events nats://host:port (the replicas' event log \
                 travels through NATS JetStream)"
            );
        };
        if crate::bus::events_url(&events).is_none() {
            bail!("--events must be nats://host:port or nats://host:port/STREAM, not {events:?}");
        }
        let url = Secret::from(store.to_owned());
        return Ok((StoreSetting::Postgres { url, events }, data_dir));
    }
    if events.is_some() {
        bail!("--events is for a PostgreSQL store; the embedded store needs none");
    }
    match store.strip_prefix("redb:") {
        _ if store == "redb" => Ok((StoreSetting::Redb, data_dir)),
        Some(dir) if !dir.is_empty() => Ok((StoreSetting::Redb, PathBuf::from(dir))),
        // Not repeated: it may be a URL with a password.
        _ => bail!("--store must be `redb`, `redb:DIR` or a postgres:// URL"),
    }
}

impl Settings {
    /// Merges `flags` (flags and environment, from clap) over the file at `config` (if any)
    /// over the defaults.
    pub fn load(flags: Overrides, config: Option<&Path>) -> anyhow::Result<Self> {
        let file = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => Overrides::default(),
        };
        Self::resolve(flags.over(file))
    }

    pub fn resolve(o: Overrides) -> anyhow::Result<Self> {
        let provider = match o.provider.as_deref().unwrap_or("embedded") {
            "embedded" => ProviderSetting::Embedded,
            url if url.starts_with("http://") || url.starts_with("https://") => {
                ProviderSetting::Url(url.to_owned())
            }
            other => {
                bail!("--provider must be `embedded` or an http:// or https:// URL, not {other:?}")
            }
        };
        let defaults = BreakerConfig::default();
        let breaker = BreakerConfig {
            consecutive_failures: o
                .breaker_failures
                .unwrap_or(defaults.consecutive_failures)
                .max(1),
            open_for: o
                .breaker_open_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.open_for),
            half_open_probes: o.breaker_probes.unwrap_or(defaults.half_open_probes).max(1),
            call_timeout: o
                .payment_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.call_timeout),
            ..defaults
        };
        let webhook = match (o.notify_webhook, o.notify_webhook_secret) {
            (None, _) => None,
            (Some(url), Some(secret)) if !secret.expose().is_empty() => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("--notify-webhook must be an http:// or https:// URL");
                }
                Some(WebhookConfig { url, secret })
            }
            (Some(_), _) => bail!("--notify-webhook needs --notify-webhook-secret"),
        };
        let notify = NotifyConfig {
            webhook,
            timeout: Duration::from_millis(o.notify_timeout_ms.unwrap_or(5_000).max(1)),
            retries: parse_schedule(o.notify_retries.as_deref().unwrap_or(DEFAULT_RETRIES))?,
        };
        let aggregates = AggregateLimits {
            max_live: o.max_live_aggregates.unwrap_or(100_000).max(1),
            mailbox: o.aggregate_mailbox.unwrap_or(32).max(1),
            // By default as long as one command ahead may take: its payment call (with the
            // margin the aggregate gives it) and a durable write.
            queue_wait: o.command_queue_ms.map_or(
                breaker.call_timeout + Duration::from_secs(11),
                Duration::from_millis,
            ),
            quarantine_failures: o.quarantine_failures.unwrap_or(3).max(1),
            quarantine_window: Duration::from_millis(o.quarantine_window_ms.unwrap_or(60_000)),
            reload_each_command: false,
        };
        // An intent must outlive its own payment call, or the reconciler would judge a call
        // that is still waiting for its answer.
        let min_reconcile = breaker.call_timeout + Duration::from_secs(1);
        let reconcile = ReconcileConfig {
            after: Duration::from_millis(o.reconcile_after_ms.unwrap_or(60_000)).max(min_reconcile),
            retention: Duration::from_millis(o.idempotency_retention_ms.unwrap_or(86_400_000)),
        };
        let access = AccessConfig {
            admin_key: None,
            rate_limit_per_key: o.rate_limit_per_key.unwrap_or(100),
            auth_failures_per_minute: o.auth_failures_per_minute.unwrap_or(20),
        };
        let tls = TlsFiles {
            serve: match (o.tls_cert, o.tls_key) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                (Some(_), None) => bail!("--tls-cert needs --tls-key"),
                (None, Some(_)) => bail!("--tls-key needs --tls-cert"),
            },
            ca_file: o.ca_file,
        };
        let (store, data_dir) = store_setting(o.store, o.events, o.data_dir)?;
        let aggregates = AggregateLimits {
            reload_each_command: matches!(store, StoreSetting::Postgres { .. }),
            ..aggregates
        };
        let defaults = Limits::default();
        let millis =
            |ms: Option<u64>, default| ms.map_or(default, |ms| Duration::from_millis(ms.max(1)));
        let limits = Limits {
            header_timeout: millis(o.header_timeout_ms, defaults.header_timeout),
            body_timeout: millis(o.body_timeout_ms, defaults.body_timeout),
            max_connections: o.max_connections.unwrap_or(defaults.max_connections).max(1),
            shutdown_grace: millis(o.shutdown_grace_ms, defaults.shutdown_grace),
            unready_before_stop: o
                .shutdown_unready_ms
                .map_or(defaults.unready_before_stop, Duration::from_millis),
        };
        Ok(Self {
            provider_key: o.provider_key,
            tls,
            limits,
            notify,
            access,
            aggregates,
            reconcile,
            rebuild_views: false,
            test_hooks: false,
            test_ack_before_commit: false,
            listen: o
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            store,
            secret: o.secret,
            pid_file: o.pid_file,
            provider,
            breaker,
            max_payment_calls: o.max_payment_calls.unwrap_or(64).max(1),
            passivate_after: Duration::from_millis(o.passivate_after_ms.unwrap_or(60_000).max(1)),
        })
    }
}

#[cfg(test)]
mod tests;
