//! A registration end to end, in-process, through the whole tree started as `paytree serve`
//! starts it (default settings, the embedded simulated payment system, inbox only): router →
//! new aggregate → leave to call → durable intent → payment → durable registration → reply.
//! Every iteration is a new customer with a new number, and must succeed. Then 32
//! registrations in flight at once, where group commit shares the fsyncs among them.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paytree::actors::{Actors, Registration, TreeOptions};
use paytree::config::{Overrides, Settings};
use paytree::domain::number::with_check_digit;
use paytree::domain::paymethod::Fingerprinter;
use paytree::domain::{AccountNumber, CustomerId, Kind};
use paytree::provider::{PaymentSystem, Simulator};
use paytree::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

const IN_FLIGHT: u64 = 32;

/// The tree on a fresh store, with the settings `serve` has by default.
async fn start(dir: &tempfile::TempDir) -> Actors {
    let settings = Settings::resolve(Overrides::default()).unwrap();
    let options = TreeOptions::from_settings(
        &settings,
        Store::open(&dir.path().join("paytree.redb")).unwrap(),
        PaymentSystem::Embedded(Arc::new(Simulator::default())),
        Fingerprinter::new([7; 32]),
    );
    Actors::start(options).await.unwrap()
}

/// Registration `n`: customer `bench-n` with Visa number `4 n(13 digits) 1 check`. The fixed
/// `1` keeps it from ending in `0002`, which the simulated payment system declines.
fn registration(n: u64) -> Registration {
    let number = with_check_digit(&format!("4{n:013}1"));
    Registration {
        customer_id: CustomerId::parse(&format!("bench-{n}")).unwrap(),
        number: AccountNumber::parse(Kind::Card, &number).unwrap(),
        request_id: None,
        idempotency: None,
    }
}

/// Registers and panics unless it was registered, so no error is ever measured.
async fn register(actors: &Actors, n: u64) {
    if let Err(e) = actors.register(registration(n), None).await.result {
        panic!("registration {n} failed: {e}");
    }
}

fn registrations(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let actors = runtime.block_on(start(&dir));
    let mut next = 0u64;

    let mut group = c.benchmark_group("registration end to end");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("one at a time", |b| {
        b.to_async(&runtime).iter(|| {
            next += 1;
            let (actors, n) = (&actors, next);
            async move { register(actors, n).await }
        })
    });
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.sample_size(10);
    group.bench_function(format!("{IN_FLIGHT} in flight"), |b| {
        b.to_async(&runtime).iter(|| {
            let mut set = JoinSet::new();
            for n in next + 1..=next + IN_FLIGHT {
                let actors = actors.clone();
                set.spawn(async move { register(&actors, n).await });
            }
            next += IN_FLIGHT;
            async move { set.join_all().await }
        })
    });
    group.finish();
    runtime.block_on(actors.shutdown());
}

criterion_group!(benches, registrations);
criterion_main!(benches);
