//! Heap memory per live payment-method aggregate, counted by the allocator itself (bytes
//! allocated and not yet freed), not guessed from the resident size, which the allocator
//! keeps high after memory is freed.
//!
//! 1. Register N methods in-process (the tree as `paytree serve` starts it, embedded
//!    payment system), then wait until every aggregate has passivated: the heap then holds
//!    the store's cache, the mypage views and the rest, but no aggregate.
//! 2. Activate all N again with a change that changes nothing (no payment, no write): the
//!    heap grows by what N live aggregates hold: actor, mailbox, state, the router's entry.
//! 3. Wait until they passivate again: the heap must come back down, or the figure is not
//!    the aggregates'.
//!
//! `cargo run --release --example aggregate_memory -- [N]` (default 20,000).

use paytree::actors::{Actors, ChangeRequest, Registration, TreeOptions};
use paytree::config::{Overrides, Settings};
use paytree::domain::number::with_check_digit;
use paytree::domain::paymethod::Fingerprinter;
use paytree::domain::{AccountNumber, CustomerId, Kind, PaymethodId};
use paytree::provider::{PaymentSystem, Simulator};
use paytree::store::Store;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const IDLE: Duration = Duration::from_secs(15);
const IN_FLIGHT: usize = 64;

fn heap() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

/// Runs `each(i)` for i in 0..n with IN_FLIGHT at a time.
async fn all<F, Fut>(n: usize, each: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut tasks = Vec::new();
    for worker in 0..IN_FLIGHT {
        let each = each.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..n).step_by(IN_FLIGHT) {
                each(i).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(20_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::resolve(Overrides::default())?;
    settings.passivate_after = IDLE;
    let actors = Arc::new(
        Actors::start(TreeOptions::from_settings(
            &settings,
            Store::open(&dir.path().join("paytree.redb"))?,
            PaymentSystem::Embedded(Arc::new(Simulator::default())),
            Fingerprinter::new([7; 32]),
        ))
        .await?,
    );

    let started = Instant::now();
    let ids = Arc::new(std::sync::Mutex::new(vec![0u64; n]));
    let (a, i) = (actors.clone(), ids.clone());
    all(n, move |k| {
        let (actors, ids) = (a.clone(), i.clone());
        async move {
            let registration = Registration {
                customer_id: CustomerId::parse(&format!("mem-{k}")).unwrap(),
                number: AccountNumber::parse(Kind::Card, &with_check_digit(&format!("4{k:013}1")))
                    .unwrap(),
                request_id: None,
                idempotency: None,
            };
            let done = actors.register(registration, None).await.result.unwrap();
            ids.lock().unwrap()[k] = done.method.id.0;
        }
    })
    .await;
    eprintln!(
        "registered {n} in {:.1} s; waiting for passivation",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(IDLE + Duration::from_secs(5)).await;
    let passive = heap();

    let started = Instant::now();
    let region = Region::new(GLOBAL);
    let (a, i) = (actors.clone(), ids.clone());
    all(n, move |k| {
        let (actors, ids) = (a.clone(), i.clone());
        async move {
            let id = PaymethodId(ids.lock().unwrap()[k]);
            let nothing = ChangeRequest {
                kind: Some(Kind::Card),
                number: None,
                if_match: None,
                owner: None,
            };
            actors.change(id, nothing).await.unwrap();
        }
    })
    .await;
    let live = heap();
    let activations = region.change();
    eprintln!("activated {n} in {:.1} s", started.elapsed().as_secs_f64());
    tokio::time::sleep(IDLE + Duration::from_secs(5)).await;
    let after = heap();

    let per = (live - passive) as f64 / n as f64;
    println!("aggregates            {n}");
    println!(
        "heap, all passivated  {:.1} MiB",
        passive as f64 / 1048576.0
    );
    println!("heap, all live        {:.1} MiB", live as f64 / 1048576.0);
    println!("heap, passivated again {:.1} MiB", after as f64 / 1048576.0);
    println!(
        "per live aggregate    {per:.0} bytes ({:.2} KiB)",
        per / 1024.0
    );
    println!(
        "allocations while activating: {} ({:.1} per aggregate)",
        activations.allocations,
        activations.allocations as f64 / n as f64
    );
    println!("MEMORY\tper_aggregate_bytes\t{per:.0}");
    actors.shutdown().await;
    Ok(())
}
