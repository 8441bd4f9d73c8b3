//! The `paytree` command: `serve` runs the service, `upgrade` makes a serving paytree hand
//! over to a new process, `provider` runs the simulated payment system; `backup`, `restore`
//! and `compact` look after a data directory (see `paytree::maintenance`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use paytree::app::{Launch, ProviderOptions, ServeArgs};
use paytree::config::Secret;
use paytree::maintenance::{self, CompactArgs, fetch::BackupArgs, restore::RestoreArgs};
use paytree::provider::{Faults, Simulator};
use paytree::tls::ServerTls;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "paytree",
    version,
    about = "Payment methods registered, changed and shown reliably"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (defaults: 127.0.0.1:8080, ./data, the embedded payment system).
    Serve(ServeArgs),
    /// Make the paytree in a pid file hand over to a new process of its binary (SIGHUP), and
    /// wait until that one serves.
    Upgrade {
        /// The `--pid-file` of the paytree to upgrade.
        #[arg(long, env = "PAYTREE_PID_FILE")]
        pid_file: PathBuf,
        /// How long to wait for the new process to serve, in seconds.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
    },
    /// Run the simulated payment system alone over HTTP.
    Provider {
        #[arg(
            long,
            env = "PAYTREE_PROVIDER_LISTEN",
            default_value = "127.0.0.1:9090"
        )]
        listen: SocketAddr,
        /// Share of authorizations that fail with 503 (0.0–1.0).
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// Share of approvals whose answer is lost (made, then never answered) (0.0–1.0).
        #[arg(long, default_value_t = 0.0)]
        drop_rate: f64,
        /// Delay before every answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Refuse every /v1/ call (401) without `Authorization: Bearer <KEY>` [default: no key].
        #[arg(long, env = "PAYTREE_PROVIDER_API_KEY", hide_env_values = true)]
        api_key: Option<Secret>,
        /// Serve HTTPS with this PEM certificate chain, leaf first [default: plain HTTP].
        #[arg(long, env = "PAYTREE_PROVIDER_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "PAYTREE_PROVIDER_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Take a backup of a running paytree's store (POST /admin/backup) into a file.
    Backup(BackupArgs),
    /// Put a backup in place as a data directory's store, with paytree stopped.
    Restore(RestoreArgs),
    /// Compact a data directory's store, with paytree stopped.
    Compact(CompactArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => {
            // Before any thread starts (the runtime's, the log's): taking a socket handed
            // over changes the environment.
            let launch = Launch {
                inherited: paytree::listen::take_inherited()?,
                exe: paytree::handoff::Exe::this()?,
            };
            in_runtime(async {
                let settings = args.settings()?;
                paytree::app::serve(settings, launch, paytree::app::shutdown_signal()).await
            })
        }
        Command::Upgrade {
            pid_file,
            wait_secs,
        } => {
            let wait = std::time::Duration::from_secs(wait_secs);
            let (old, new) = paytree::handoff::upgrade(&pid_file, wait)?;
            println!("paytree {new} serves; {old} drains its connections and exits");
            Ok(())
        }
        Command::Provider {
            listen,
            fail_rate,
            drop_rate,
            latency_ms,
            api_key,
            tls_cert,
            tls_key,
        } => {
            let faults = Faults {
                fail_rate,
                drop_rate,
                latency_ms,
                ..Faults::default()
            };
            anyhow::ensure!(
                faults.is_valid(),
                "--fail-rate and --drop-rate must be between 0 and 1"
            );
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(ServerTls::from_pem_files(&cert, &key)?),
                _ => None,
            };
            let options = ProviderOptions { api_key, tls };
            let sim = Simulator::new(faults);
            let shutdown = paytree::app::shutdown_signal();
            in_runtime(paytree::app::provider(listen, sim, options, shutdown))
        }
        Command::Backup(args) => in_runtime(maintenance::fetch::run(args)),
        Command::Restore(args) => {
            let _log = paytree::telemetry::init_logging();
            maintenance::restore::run(args)
        }
        Command::Compact(args) => {
            let _log = paytree::telemetry::init_logging();
            maintenance::compact(args)
        }
    }
}

/// Runs `work` on a multi-threaded runtime, with the log written.
fn in_runtime(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let _log = paytree::telemetry::init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(work)
}
