//! The goose load test, with an audit of paytree's invariants after every run.
//!
//! ```text
//! cargo run --release --example loadtest -- --host http://127.0.0.1:8080 \
//!     --admin-key-file data/admin.key --scenario mixed -u 32 -r 32 -t 30s
//! ```
//! Keys (see `keys.rs`): with the admin key, the load test makes one `service` key per goose
//! user before the run and revokes them after it. Goose users send requests as fast as they
//! are answered, far more than paytree's default 100 a second per key: start the paytree
//! under test with `--rate-limit-per-key 1000000` (or `PAYTREE_RATE_LIMIT_PER_KEY`); a run
//! that got any 429 fails.
//!
//! Scenarios (`--scenario`):
//! - `register`: every registration a new customer, each with an `Idempotency-Key` that is
//!   resent (at most 3 times) when the answer is a 503 or lost;
//! - `mixed`: each user keeps its own customers and registers (1), changes the number (1),
//!   reads the mypage (6) and the messages (2), by those weights;
//! - `outage`: registrations while the payment system (`--provider`, a `paytree provider`
//!   paytree was started against) goes down at `--outage-at` for `--outage-for` and comes
//!   back; the breaker must turn the outage into fast 503s with no calls reaching it;
//! - `mypage`: each user registers its customers' methods at start, then only reads their
//!   mypages (the read side alone, for `benches/compare.sh`);
//! - `shop`: the clothing shop (see `shop/mod.rs`): products stocked with the admin key,
//!   customers that order and cancel about 30 % of their orders, one or two sellers that ship
//!   what is pending; needs `--provider`, and has an audit of its own (`shop/audit.rs`).
//!
//! Every other flag is goose's (`--help` lists them); coordinated-omission mitigation is on
//! (`--co-mitigation average`) unless another is given. After goose's report come p50, p95
//! and p99 per request (raw and CO-mitigated), then the audit: a run whose audit fails exits
//! with 1, whatever the load figures were.

mod audit;
mod book;
mod keys;
mod outage;
mod report;
mod shop;
mod users;

use book::Book;
use clap::{Parser, ValueEnum};
use goose::config::GooseConfiguration;
use goose::prelude::*;
use keys::Keyring;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Register,
    Mixed,
    Outage,
    Mypage,
    Shop,
}

#[derive(Parser)]
#[command(
    name = "loadtest",
    about = "paytree's goose load test and invariant audit"
)]
struct Cli {
    /// The scenario to run.
    #[arg(long, value_enum, default_value = "register")]
    scenario: Workload,
    /// The payment system paytree calls (a `paytree provider`). Needed by `outage` and
    /// `shop`; with it the audit also checks the provider's ledger (which assumes it served
    /// only this run).
    #[arg(long, value_name = "URL")]
    provider: Option<String>,
    /// Seconds into the run at which the payment system goes down (`outage`).
    #[arg(long, default_value_t = 10)]
    outage_at: u64,
    /// Seconds it stays down (`outage`).
    #[arg(long, default_value_t = 15)]
    outage_for: u64,
    /// Run the load only, without the audit.
    #[arg(long)]
    no_audit: bool,
    /// paytree's admin key, to make the users' keys and to audit with; without it
    /// `PAYTREE_ADMIN_KEY`, else ./data/admin.key (where `paytree serve` writes it).
    #[arg(long, value_name = "PATH")]
    admin_key_file: Option<PathBuf>,
    /// Send no keys (a server without them: the bare server, a paytree before keys).
    #[arg(long, conflicts_with = "admin_key_file")]
    no_keys: bool,
    #[command(flatten)]
    goose: GooseConfiguration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let host = cli
        .goose
        .host
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--host is required (e.g. http://127.0.0.1:8080)"))?;
    let host = host.trim_end_matches('/').to_owned();
    let shop = cli.scenario == Workload::Shop;
    if (cli.scenario == Workload::Outage || shop) && cli.provider.is_none() {
        anyhow::bail!(
            "--scenario {} needs --provider URL (the `paytree provider` paytree calls)",
            if shop { "shop" } else { "outage" }
        );
    }
    let book = Book::install();
    let admin_key = if cli.no_keys {
        None
    } else {
        Some(keys::admin_key(cli.admin_key_file.as_deref())?)
    };
    // paytree's client sends the admin key; the payment system's sends none.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let admin = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(keys::headers(admin_key.as_ref()))
        .build()?;
    let keyring = Keyring::install(
        admin_key.is_some().then(|| (admin.clone(), host.clone())),
        &book.run,
    );
    // Users past these (a test plan that adds some) get theirs when they start.
    let users = cli
        .goose
        .users
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    keyring
        .prepare(users)
        .await
        .map_err(|e| anyhow::anyhow!("making the users' keys: {e}"))?;
    if shop {
        shop::stock(&admin, &host).await?;
    }

    let monitor = match (cli.scenario, &cli.provider) {
        (Workload::Outage, Some(provider)) => Some(outage::start(
            client.clone(),
            admin.clone(),
            host.clone(),
            provider.clone(),
            Duration::from_secs(cli.outage_at),
            Duration::from_secs(cli.outage_for),
        )),
        _ => None,
    };

    let mut attack = *GooseAttack::initialize_with_config(cli.goose)?.set_default(
        GooseDefault::CoordinatedOmissionMitigation,
        GooseCoordinatedOmissionMitigation::Average,
    )?;
    for scenario in users::scenarios(cli.scenario)? {
        attack = attack.register_scenario(scenario);
    }
    let metrics = attack.execute().await?;

    report::latencies(&metrics);
    let mut failed = Vec::new();
    let throttled = report::rate_limited(&metrics);
    if throttled > 0 {
        failed.push(format!(
            "{throttled} requests were answered 429: paytree throttled the users' keys; \
             start it with --rate-limit-per-key 1000000 for a load test"
        ));
    }
    if let Some(monitor) = monitor {
        let outcome = monitor.finish().await;
        report::outage(&outcome, &book);
        failed.extend(outcome.failures);
    }
    if shop {
        let figures = match (cli.no_audit, cli.provider.as_deref()) {
            (false, Some(provider)) => {
                let (found, figures) =
                    shop::audit::run(&admin, &host, &client, provider, &book).await;
                failed.extend(found);
                Some(figures)
            }
            _ => None,
        };
        report::shop(&metrics, figures.as_ref());
    } else if !cli.no_audit {
        let found = audit::run(
            &admin,
            &host,
            &client,
            cli.provider.as_deref(),
            Arc::clone(&book),
        )
        .await;
        failed.extend(found);
    }
    for warning in keyring.revoke_all().await {
        println!("warning: a key of this run was not revoked (it expires in a day): {warning}");
    }
    if failed.is_empty() {
        println!("\nRESULT: passed");
        Ok(())
    } else {
        println!("\nRESULT: FAILED");
        for f in &failed {
            println!("  - {f}");
        }
        std::process::exit(1);
    }
}
