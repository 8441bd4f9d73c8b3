//! The kernel with a toy aggregate (a counter per id, stored in memory): what the toy is and
//! how the tests drive it. The host's tests are in `host.rs`, the router's in `router.rs`.

mod host;
mod router;

use super::*;
use crate::config::AggregateLimits;
use crate::fate::Fate;
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

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
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
        reload_each_command: false,
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

fn later() -> Start {
    Start::by(Instant::now() + Duration::from_secs(60))
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
        start: Start,
    ) -> ractor::concurrency::OneshotReceiver<Result<u64, AggregateError<Negative>>> {
        let (tx, rx) = ractor::concurrency::oneshot();
        let message = RouterMessage::Route(ToyId(id), build(tx.into()), start);
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
