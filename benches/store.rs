//! The store's group commit: rows per second against batch size. Each batch is one durable
//! (fsynced, `Durability::Immediate`) redb transaction, as `Redb::commit` makes it for the
//! store writer, so the figures show how far a bigger batch amortizes the fsync. Two kinds of
//! command: `OpenIntent` (what every payment call records first) and `Register` (method,
//! payment, event and the closed intent); only the `Register` commit is timed, its intents are
//! opened untimed before it.

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use paytree::domain::intent::IntentRef;
use paytree::domain::{AccountNumber, CustomerId, Kind, Payment, PaymethodId, StoredMethod};
use paytree::store::{Command, OpenIntent, Redb, Register};
use std::time::{Duration, Instant};

const BATCHES: [u64; 5] = [1, 4, 16, 64, 256];

/// A store in a fresh temporary directory (on disk, so the fsync is real).
fn store() -> (tempfile::TempDir, Redb) {
    let dir = tempfile::tempdir().unwrap();
    let store = Redb::open(&dir.path().join("bench.redb")).unwrap();
    (dir, store)
}

/// Customers as the wrk script spreads them: 1,000 of them.
fn customer(n: u64) -> CustomerId {
    CustomerId::parse(&format!("load-{}", n % 1_000)).unwrap()
}

/// The intent of registration `n`, named like the aggregate names it (`reg_` and 24 hex digits).
fn intent(n: u64) -> IntentRef {
    IntentRef {
        base: format!("reg_{n:024x}"),
        nonce: format!("{n:016x}"),
    }
}

fn open_intent(n: u64) -> Command {
    let intent = intent(n);
    OpenIntent {
        base: intent.base,
        nonce: intent.nonce,
        customer_id: customer(n),
        paymethod_id: None,
        amount: 0,
        order_id: None,
    }
    .into()
}

/// The number every registration here is for (a valid test card).
fn number() -> AccountNumber {
    AccountNumber::parse(Kind::Card, "4242424242424242").unwrap()
}

/// Registration `n` as the aggregate writes it after an approval.
fn register(n: u64) -> Command {
    let method = StoredMethod::registered(
        PaymethodId(n),
        customer(n),
        &number(),
        None,
        format!("tok_{n:024x}"),
        format!("{n:064x}"),
    );
    let payment = Payment::verification(customer(n), None, None, format!("auth_{n:024x}"));
    Register {
        method,
        payment,
        intent: intent(n),
        idempotency: None,
    }
    .into()
}

/// Commits `commands` in one transaction and fails unless every one of them was stored.
fn commit_all(store: &Redb, commands: &[Command]) {
    let outcomes = store.commit(commands).unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

/// The ids `first..=last` of the next `batch` commands.
fn take(next: &mut u64, batch: u64) -> std::ops::RangeInclusive<u64> {
    let first = *next + 1;
    *next += batch;
    first..=*next
}

/// Fsync-bound groups: few samples, short runs.
fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    group
}

fn open_intents(c: &mut Criterion) {
    let (_dir, store) = store();
    let mut next = 0u64;
    let mut group = group(c, "store commit: open intents");
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(BenchmarkId::from_parameter(batch), |b| {
            b.iter_batched(
                || take(&mut next, batch).map(open_intent).collect::<Vec<_>>(),
                |commands| commit_all(&store, &commands),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// On a store of its own, so that the open intents above do not weigh on it.
fn registrations(c: &mut Criterion) {
    let (_dir, store) = store();
    let mut next = 0u64;
    let mut group = group(c, "store commit: registrations");
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(BenchmarkId::from_parameter(batch), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let ids = take(&mut next, batch);
                    commit_all(&store, &ids.clone().map(open_intent).collect::<Vec<_>>());
                    let registrations: Vec<_> = ids.map(register).collect();
                    let started = Instant::now();
                    commit_all(&store, &registrations);
                    timed += started.elapsed();
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, open_intents, registrations);
criterion_main!(benches);
