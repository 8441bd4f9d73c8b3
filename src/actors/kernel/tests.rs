//! The kernel with a toy aggregate (a counter per id, stored in memory): activation,
//! passivation, the mailbox bound, quarantine, LRU eviction, and commands that must not run.

use super::*;
use crate::config::AggregateLimits;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef, RpcReplyPort};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ToyId(u64);

impl std::fmt::Display for ToyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl AggregateId for ToyId {
    fn from_sequence(value: u64) -> Self {
        Self(value)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Negative;

type Reply = RpcReplyPort<CommandResult<Counter, u64>>;

enum ToyCommand {
    /// Adds to the counter and stores it; replies with the new value.
    Add(i64, Reply),
    /// Waits for a permit of the gate, then replies with the value (holds the host busy).
    Hold(Arc<Semaphore>, Reply),
    /// Fails as a bug would.
    Break,
    /// Pretends a write's fate is unknown.
    Unsure(Reply),
}

impl Command for ToyCommand {
    fn caller_gone(&self) -> bool {
        match self {
            Self::Add(_, r) | Self::Hold(_, r) | Self::Unsure(r) => r.is_closed(),
            Self::Break => false,
        }
    }

    fn refuse(self, refusal: Refusal) {
        match self {
            Self::Add(_, r) | Self::Hold(_, r) | Self::Unsure(r) => {
                let _ = r.send(Err(refusal.into()));
            }
            Self::Break => {}
        }
    }
}

/// The toy's "store" and what it counts.
#[derive(Default)]
struct ToyServices {
    stored: Mutex<HashMap<u64, u64>>,
    loads: AtomicUsize,
    runs: AtomicUsize,
}

impl ToyServices {
    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

struct Counter {
    id: ToyId,
    value: u64,
}

impl Aggregate for Counter {
    const KIND: &'static str = "toy";
    type Id = ToyId;
    type Command = ToyCommand;
    type Error = Negative;
    type Services = ToyServices;

    fn fresh(id: ToyId) -> Self {
        Self { id, value: 0 }
    }

    async fn load(id: ToyId, services: &ToyServices) -> Result<Self, LoadError> {
        services.loads.fetch_add(1, Ordering::SeqCst);
        let value = services.stored.lock().unwrap().get(&id.0).copied();
        Ok(Self {
            id,
            value: value.unwrap_or(0),
        })
    }

    async fn handle(&mut self, command: ToyCommand, services: &ToyServices) -> Handled {
        services.runs.fetch_add(1, Ordering::SeqCst);
        match command {
            ToyCommand::Add(n, reply) => {
                let Some(value) = self.value.checked_add_signed(n) else {
                    let _ = reply.send(Err(AggregateError::Domain(Negative)));
                    return Handled::Done;
                };
                self.value = value;
                services.stored.lock().unwrap().insert(self.id.0, value);
                let _ = reply.send(Ok(value));
                Handled::Done
            }
            ToyCommand::Hold(gate, reply) => {
                let _ = gate.acquire().await;
                let _ = reply.send(Ok(self.value));
                Handled::Done
            }
            ToyCommand::Break => Handled::Broken("told to".into()),
            ToyCommand::Unsure(reply) => {
                let _ = reply.send(Err(Refusal::Internal.into()));
                Handled::Unsure
            }
        }
    }

    fn is_empty(&self) -> bool {
        false
    }
}

struct Toy {
    router: ActorRef<RouterMessage<Counter>>,
    services: Arc<ToyServices>,
}

fn limits() -> AggregateLimits {
    AggregateLimits {
        max_live: 100,
        mailbox: 4,
        queue_wait: Duration::from_secs(60),
        quarantine_failures: 3,
        quarantine_window: Duration::from_secs(60),
    }
}

async fn toy(limits: AggregateLimits, idle_timeout: Duration) -> Toy {
    toy_writing_to(
        Writer::new(Slot::default(), Duration::from_secs(1)),
        limits,
        idle_timeout,
    )
    .await
}

async fn toy_writing_to(writer: Writer, limits: AggregateLimits, idle_timeout: Duration) -> Toy {
    let services = Arc::new(ToyServices::default());
    let args = RouterArgs {
        services: services.clone(),
        writer,
        limits,
        idle_timeout,
    };
    let (router, _) = Actor::spawn(None, RouterActor::<Counter>::default(), args)
        .await
        .unwrap();
    Toy { router, services }
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

impl Toy {
    /// Creates an aggregate with `+n`.
    async fn create(&self, n: i64) -> Result<u64, AggregateError<Negative>> {
        self.ask(|r| RouterMessage::Create(ToyCommand::Add(n, r), later()))
            .await
    }

    async fn add(&self, id: u64, n: i64) -> Result<u64, AggregateError<Negative>> {
        self.call(id, |r| ToyCommand::Add(n, r)).await
    }

    async fn call(
        &self,
        id: u64,
        build: impl FnOnce(Reply) -> ToyCommand,
    ) -> Result<u64, AggregateError<Negative>> {
        self.ask(|r| RouterMessage::Route(ToyId(id), build(r), later()))
            .await
    }

    async fn ask(
        &self,
        message: impl FnOnce(Reply) -> RouterMessage<Counter>,
    ) -> Result<u64, AggregateError<Negative>> {
        match self
            .router
            .call(message, Some(Duration::from_secs(5)))
            .await
        {
            Ok(CallResult::Success(answer)) => answer,
            other => panic!("no answer: {other:?}"),
        }
    }

    /// Sends a command without waiting; the answer arrives on the returned receiver.
    fn send(
        &self,
        id: u64,
        build: impl FnOnce(Reply) -> ToyCommand,
        start_by: Instant,
    ) -> ractor::concurrency::OneshotReceiver<Result<u64, AggregateError<Negative>>> {
        let (tx, rx) = ractor::concurrency::oneshot();
        let message = RouterMessage::Route(ToyId(id), build(tx.into()), start_by);
        self.router.send_message(message).unwrap();
        rx
    }

    fn hold(&self, id: u64) -> (Arc<Semaphore>, impl Future<Output = Option<u64>>) {
        let gate = Arc::new(Semaphore::new(0));
        let rx = self.send(id, |r| ToyCommand::Hold(gate.clone(), r), later());
        (gate, async move { rx.await.ok()?.ok() })
    }

    async fn release(&self, id: u64) -> bool {
        let release = |r| RouterMessage::Release(ToyId(id), r);
        matches!(
            self.router
                .call(release, Some(Duration::from_secs(5)))
                .await,
            Ok(CallResult::Success(true))
        )
    }
}

/// Polls `done` until it holds (at most 5 s).
async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 5 s");
}

#[tokio::test]
async fn an_aggregate_loads_once_on_its_first_command_and_keeps_its_state_in_memory() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    toy.services.stored.lock().unwrap().insert(7, 40);
    assert_eq!(toy.add(7, 1).await, Ok(41));
    assert_eq!(toy.add(7, 1).await, Ok(42));
    assert_eq!(toy.services.loads(), 1);
    assert_eq!(
        toy.add(7, -100).await,
        Err(AggregateError::Domain(Negative)),
        "the domain's error reaches the caller as it is"
    );
}

#[tokio::test]
async fn concurrent_commands_during_passivation_all_run_once_in_order() {
    let toy = Arc::new(toy(limits(), Duration::from_millis(20)).await);
    for round in 0..5 {
        let adds: Vec<_> = (0..4)
            .map(|_| {
                let toy = toy.clone();
                tokio::spawn(async move { toy.add(1, 1).await })
            })
            .collect();
        for add in adds {
            assert!(add.await.unwrap().is_ok());
        }
        assert_eq!(toy.services.stored.lock().unwrap()[&1], 4 * (round + 1));
        // Idle past the timeout: the next round starts a new incarnation from the store.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        toy.services.loads() >= 2,
        "idle aggregates were passivated and loaded again ({} loads)",
        toy.services.loads()
    );
}

#[tokio::test]
async fn a_full_mailbox_answers_busy_and_what_it_holds_still_runs() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs.load(Ordering::SeqCst) == 1).await;
    let queued: Vec<_> = (0..4)
        .map(|_| toy.send(1, |r| ToyCommand::Add(1, r), later()))
        .collect();
    assert_eq!(
        toy.add(1, 1).await,
        Err(AggregateError::Refused(Refusal::Busy))
    );
    gate.add_permits(1);
    assert_eq!(held.await, Some(0));
    for rx in queued {
        assert!(rx.await.unwrap().is_ok());
    }
    assert_eq!(toy.services.stored.lock().unwrap()[&1], 4);
}

#[tokio::test]
async fn an_aggregate_that_keeps_failing_is_quarantined_until_released() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    for failures in 1..=3 {
        // One at a time: a failing incarnation's mailbox goes with it.
        toy.router
            .send_message(RouterMessage::Route(ToyId(1), ToyCommand::Break, later()))
            .unwrap();
        eventually(|| toy.services.runs.load(Ordering::SeqCst) == failures).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        toy.add(1, 1).await,
        Err(AggregateError::Refused(Refusal::Quarantined))
    );
    assert_eq!(toy.add(2, 1).await, Ok(1), "other aggregates go on working");
    assert!(toy.release(1).await);
    assert_eq!(toy.add(1, 1).await, Ok(1));
}

#[tokio::test]
async fn past_max_live_the_least_recently_used_aggregate_is_passivated() {
    let limits = AggregateLimits {
        max_live: 2,
        ..limits()
    };
    let toy = toy(limits, Duration::from_secs(60)).await;
    toy.add(1, 1).await.unwrap();
    toy.add(2, 1).await.unwrap();
    toy.add(1, 1).await.unwrap(); // 2 is now the least recently used
    toy.add(3, 1).await.unwrap(); // evicts 2
    assert_eq!(toy.services.loads(), 3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    toy.add(1, 1).await.unwrap();
    assert_eq!(toy.services.loads(), 3, "1 stayed live");
    toy.add(2, 1).await.unwrap();
    assert_eq!(toy.services.loads(), 4, "2 was evicted and loads again");
    assert_eq!(toy.services.stored.lock().unwrap()[&2], 2);
}

#[tokio::test]
async fn a_command_whose_caller_has_gone_does_not_run() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs.load(Ordering::SeqCst) == 1).await;
    let gone = toy.send(1, |r| ToyCommand::Add(5, r), later());
    drop(gone);
    gate.add_permits(1);
    held.await;
    assert_eq!(toy.add(1, 1).await, Ok(1), "the abandoned +5 never ran");
}

#[tokio::test]
async fn a_command_still_queued_at_its_start_by_time_is_refused_without_running() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs.load(Ordering::SeqCst) == 1).await;
    let start_by = Instant::now() + Duration::from_millis(20);
    let late = toy.send(1, |r| ToyCommand::Add(5, r), start_by);
    tokio::time::sleep(Duration::from_millis(40)).await;
    gate.add_permits(1);
    held.await;
    assert_eq!(
        late.await.unwrap(),
        Err(AggregateError::Refused(Refusal::Unavailable))
    );
    assert_eq!(toy.add(1, 1).await, Ok(1), "the late +5 never ran");
}

#[tokio::test]
async fn an_unsure_write_reloads_the_state_without_counting_toward_quarantine() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    toy.add(1, 1).await.unwrap();
    for _ in 0..5 {
        let unsure = toy.call(1, ToyCommand::Unsure).await;
        assert_eq!(unsure, Err(AggregateError::Refused(Refusal::Internal)));
        // What the store holds now (the write may have landed after all).
        toy.services.stored.lock().unwrap().insert(1, 10);
        assert_eq!(toy.add(1, 1).await, Ok(11), "state reloaded from the store");
        toy.services.stored.lock().unwrap().insert(1, 1);
    }
    assert_eq!(toy.services.loads(), 6);
}

/// A store writer on a fresh store, and the writer handle on it.
async fn store_writer(dir: &std::path::Path) -> Writer {
    use crate::actors::store_writer::{StoreWriterActor, StoreWriterArgs};
    let store = crate::store::Store::open(&dir.join("t.redb")).unwrap();
    let args = StoreWriterArgs {
        store,
        max_batch: 16,
        commits: Arc::new(tokio::sync::watch::channel(crate::domain::Position(0)).0),
        ack_before_commit: false,
    };
    let (actor, _) = Actor::spawn(None, StoreWriterActor, args).await.unwrap();
    let writer = Writer::new(Slot::default(), Duration::from_secs(5));
    writer.slot().set(Some(actor));
    writer
}

#[tokio::test]
async fn new_aggregates_get_ids_from_blocks_reserved_durably_and_are_refused_without_a_store() {
    let without = toy(limits(), Duration::from_secs(60)).await;
    assert_eq!(
        without.create(1).await,
        Err(AggregateError::Refused(Refusal::Unavailable)),
        "no reservation, no creation: refused, not left waiting"
    );

    let dir = tempfile::TempDir::new().unwrap();
    let writer = store_writer(dir.path()).await;
    let first = toy_writing_to(writer.clone(), limits(), Duration::from_secs(60)).await;
    for _ in 0..3 {
        assert_eq!(first.create(1).await, Ok(1));
    }
    let ids = |toy: &Toy| {
        let mut ids: Vec<u64> = toy
            .services
            .stored
            .lock()
            .unwrap()
            .keys()
            .copied()
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&first), [1, 2, 3]);
    // Another router on the same store (a restart) starts after every id reserved before.
    let second = toy_writing_to(writer, limits(), Duration::from_secs(60)).await;
    assert_eq!(second.create(1).await, Ok(1));
    let after = ids(&second)[0];
    assert!(after > 3, "id {after} was handed out again");
    assert_eq!(
        (after - 1) % super::ids::ID_BLOCK,
        0,
        "a block of its own: {after}"
    );
}
