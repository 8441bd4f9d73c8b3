//! Actor round trips on a multi-thread tokio runtime: a minimal ractor actor answering a call
//! (the floor under every hop in the tree: HTTP → router → aggregate → payment → writer), and
//! one small durable write through paytree's store writer, which adds the batching queue, the
//! blocking commit and its fsync. Compare the latter with `store commit: open intents/1`.

use criterion::{Criterion, criterion_group, criterion_main};
use paytree::actors::store_writer::{StoreWriterActor, StoreWriterArgs, StoreWriterMessage};
use paytree::domain::{CustomerId, Position};
use paytree::store::{OpenIntent, Store};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, call, call_t};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// Answers every `Ping` with its number.
struct EchoActor;

enum EchoMessage {
    /// Replies with the number it was given.
    Ping(u64, RpcReplyPort<u64>),
}

impl Actor for EchoActor {
    type Msg = EchoMessage;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            EchoMessage::Ping(n, reply) => drop(reply.send(n)),
        }
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn echo(c: &mut Criterion) {
    let runtime = runtime();
    let (actor, handle) = runtime.block_on(Actor::spawn(None, EchoActor, ())).unwrap();
    let mut group = c.benchmark_group("actor round trip");
    group.bench_function("call! (no timeout)", |b| {
        b.to_async(&runtime)
            .iter(|| async { call!(actor, EchoMessage::Ping, black_box(7)).unwrap() })
    });
    group.bench_function("call_t! (1 s timeout, as paytree calls)", |b| {
        b.to_async(&runtime)
            .iter(|| async { call_t!(actor, EchoMessage::Ping, 1_000, black_box(7)).unwrap() })
    });
    group.finish();
    actor.stop(None);
    runtime.block_on(handle).unwrap();
}

fn store_writer(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.redb")).unwrap();
    let args = StoreWriterArgs {
        store,
        max_batch: 512,
        commits: Arc::new(tokio::sync::watch::channel(Position(0)).0),
        ack_before_commit: false,
    };
    let (writer, handle) = runtime
        .block_on(Actor::spawn(None, StoreWriterActor, args))
        .unwrap();
    let customer = CustomerId::parse("load-1").unwrap();
    let mut n = 0u64;

    let mut group = c.benchmark_group("store writer round trip");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("one OpenIntent, durable", |b| {
        b.to_async(&runtime).iter(|| {
            n += 1;
            let command = OpenIntent {
                base: format!("reg_{n:024x}"),
                nonce: format!("{n:016x}"),
                customer_id: customer.clone(),
                paymethod_id: None,
                amount: 0,
                order_id: None,
            }
            .into();
            let writer = &writer;
            async move {
                call_t!(writer, StoreWriterMessage::Write, 10_000, command)
                    .unwrap()
                    .unwrap()
            }
        })
    });
    group.finish();
    writer.stop(None);
    runtime.block_on(handle).unwrap();
}

criterion_group!(benches, echo, store_writer);
criterion_main!(benches);
