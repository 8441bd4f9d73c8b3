//! The actor tree and [`Actors`], the typed handle the HTTP layer calls. Every call through
//! the handle has a timeout; every failure to get an answer becomes one [`CommandError`].
//! Queries read the store directly (its snapshots are consistent and never wait for the
//! writer); commands go to the aggregates through their kind's router.
//!
//! - [`kernel`]: the machinery written once for every aggregate kind (host, router, writer
//!   handle, log tail, supervisor over child specs);
//! - one folder per aggregate kind ([`paymethod`]) and per service actor ([`payment`] with its
//!   circuit breaker, [`notifier`], [`projector`]), each with a `handle.rs` holding its side of
//!   [`Actors`]; [`reconciler`] and [`store_writer`];
//! - `tree.rs`: which children the root supervisor starts, in which order.

mod catalogue;
mod command;
pub(crate) mod idempotency;
pub mod kernel;
pub mod notifier;
pub mod order;
pub mod payment;
pub mod paymethod;
pub mod projector;
pub mod reconciler;
pub mod saga;
pub mod shipment;
pub mod shipping;
pub mod store_writer;
mod test_hooks;
mod tree;

pub use breaker::{BreakerConfig, BreakerSnapshot, BreakerState};
pub use command::{ChangeRequest, CommandError, Done, RawNumber, Registration, RemoveRequest};
pub use notifier::webhook;
pub use payment::breaker;
pub use payment::handle::PaymentFilter;
pub use projector::handle::MypageRead;
pub use test_hooks::PanicTarget;

use crate::domain::Position;
use crate::domain::idempotency::{IdempotencyClaim, IdempotentOutcome};
use crate::domain::paymethod::Fingerprinter;
use crate::domain::{CustomerId, IdempotencyKey};
use crate::store::{Store, StoreError};
use kernel::{Aggregates, Refusal, Slot};
use kernel::{RootActor, RootArgs, RootMessage};
use notifier::NotifierMessage;
use payment::PaymentMessage;
use paymethod::Paymethod;
use projector::{ProjectorMessage, Views};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef, RpcReplyPort};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
pub use tree::TreeOptions;

/// The handle on the running tree. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Actors {
    root: ActorRef<RootMessage>,
    paymethods: Aggregates<Paymethod>,
    orders: Aggregates<order::OrderAggregate>,
    shipments: Aggregates<shipment::ShipmentAggregate>,
    shipping: Slot<shipping::ShippingMessage>,
    shipping_paused: Arc<tokio::sync::watch::Sender<bool>>,
    payment: Slot<PaymentMessage>,
    /// The breaker the payment actor calls through, read here to fail fast while open.
    breaker: breaker::Breaker,
    store: Store,
    fingerprinter: Fingerprinter,
    in_flight: idempotency::InFlight,
    healthy: Arc<tokio::sync::watch::Sender<bool>>,
    notifier: Slot<NotifierMessage>,
    projector: Slot<ProjectorMessage>,
    views: Arc<Views>,
    /// The last committed event position.
    commits: Arc<tokio::sync::watch::Sender<Position>>,
    writer: kernel::Writer,
}

impl Actors {
    /// Starts the tree under its root supervisor.
    pub async fn start(options: TreeOptions) -> Result<Self, ractor::SpawnErr> {
        let head = options.store.last_position().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the event log");
            ractor::SpawnErr::StartupFailed("cannot read the event log".into())
        })?;
        let store = options.store.clone();
        let in_flight = idempotency::InFlight::new(store.bus_log().cloned());
        let fingerprinter = options.fingerprinter.clone();
        let tree = tree::Tree::new(&options, head).await;
        let healthy = Arc::new(tokio::sync::watch::Sender::new(true));
        let args = RootArgs {
            children: tree.children(options),
            healthy: healthy.clone(),
        };
        let (root, _) = Actor::spawn(None, RootActor, args).await?;
        Ok(Self {
            root,
            paymethods: tree.router.clone(),
            orders: tree.orders.clone(),
            shipments: tree.shipments.clone(),
            shipping: tree.shipping.clone(),
            shipping_paused: tree.shipping_paused.clone(),
            payment: tree.payment,
            breaker: tree.breaker,
            store,
            fingerprinter,
            in_flight,
            healthy,
            notifier: tree.notifier,
            projector: tree.projector,
            views: tree.views,
            commits: tree.commits,
            writer: tree.writer,
        })
    }

    /// The handle on the store writer, for what is written outside the aggregates (keys and
    /// the audit log).
    pub fn writer(&self) -> kernel::Writer {
        self.writer.clone()
    }

    /// Admin actions with ids above `after`, oldest first.
    pub async fn audit(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<crate::store::Page<crate::auth::AuditEntry>, CommandError> {
        self.query(self.store.audit(after, limit)).await
    }

    /// False once the supervisor has given up restarting a child.
    pub fn is_healthy(&self) -> bool {
        *self.healthy.borrow()
    }

    /// False while the store cannot commit (after a storage I/O error, until reopened).
    pub fn store_is_writable(&self) -> bool {
        self.store.is_writable()
    }

    /// Drains the tree (aggregates, payment, store writer, in that order) and stops it.
    pub async fn shutdown(&self) {
        let _ = ask(&self.root, RootMessage::Shutdown, Duration::from_secs(60)).await;
    }

    /// Runs a read on the calling task. Every query is a point read or a page bounded by its
    /// limit (a listing also passes over index rows of messages the notifier has not created
    /// yet, as many as it lags behind), normally out of redb's cache: microseconds of work,
    /// less than the two thread wake-ups a hop to the blocking pool would add to every read.
    async fn query<T>(
        &self,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, CommandError> {
        read.await.map_err(|e| {
            if e.is_outage() {
                return CommandError::Unavailable;
            }
            tracing::error!(error = %e, "store read failed");
            CommandError::Internal
        })
    }
}

impl Actors {
    /// Runs a command under an optional `Idempotency-Key` of `customer`: the first request
    /// with a key runs (`run` gets the key's claim, to store with the final outcome) and its
    /// outcome is kept with the key; a repeat of the same request (same `fingerprint`) gets
    /// that outcome again (`replay`), a different request 422, a concurrent one 409.
    async fn idempotent<T, F, R>(
        &self,
        customer: &CustomerId,
        key: Option<IdempotencyKey>,
        fingerprint: String,
        replay: impl FnOnce(IdempotentOutcome) -> R,
        run: impl FnOnce(Option<(IdempotencyClaim, idempotency::Claim)>) -> F,
    ) -> Answer<T>
    where
        F: Future<Output = Result<T, CommandError>>,
        R: Future<Output = Result<T, CommandError>>,
    {
        let Some(key) = key else {
            return Answer::fresh(run(None).await);
        };
        let held = match self.in_flight.claim(customer, &key).await {
            Ok(Some(held)) => held,
            Ok(None) => {
                count_key("in_flight");
                return Answer::fresh(Err(CommandError::IdempotencyInFlight));
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming an Idempotency-Key in the store failed");
                return Answer::fresh(Err(CommandError::Unavailable));
            }
        };
        let (lookup, owner) = (key.clone(), customer.clone());
        match self.query(self.store.idempotency(&owner, &lookup)).await {
            Err(e) => Answer::fresh(Err(e)),
            Ok(Some(record)) if record.fingerprint != fingerprint => {
                count_key("mismatch");
                Answer::fresh(Err(CommandError::IdempotencyMismatch))
            }
            Ok(Some(record)) => {
                count_key("replayed");
                Answer {
                    result: replay(record.outcome).await,
                    replayed: true,
                }
            }
            Ok(None) => {
                count_key("new");
                let claim = IdempotencyClaim { key, fingerprint };
                Answer::fresh(run(Some((claim, held))).await)
            }
        }
    }
}

fn count_key(outcome: &'static str) {
    metrics::counter!(crate::telemetry::names::IDEMPOTENCY, "outcome" => outcome).increment(1);
}

/// A command's result, and whether it is the stored result of an earlier identical request.
#[derive(Debug)]
pub struct Answer<T> {
    pub result: Result<T, CommandError>,
    pub replayed: bool,
}

impl<T> Answer<T> {
    fn fresh(result: Result<T, CommandError>) -> Self {
        Self {
            result,
            replayed: false,
        }
    }
}

/// Calls `actor` and waits at most `wait`; no answer (timeout, actor gone) is `Unavailable`.
/// From a request's task, the request passes its point of no return first (what the actor
/// does may outlive the request), and one abandoned at the shutdown deadline is `Unavailable`.
pub(crate) async fn ask<M, T>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<T>) -> M,
    wait: Duration,
) -> Result<T, Refusal>
where
    M: ractor::Message,
    T: Send + 'static,
{
    if !crate::fate::Fate::proceed_current() {
        return Err(Refusal::Unavailable);
    }
    call(actor, build, wait).await
}

/// [`ask`] without passing the request's point of no return, for a message that carries the
/// request's [`crate::fate::Fate`] to where it is decided.
pub(crate) async fn call<M, T>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<T>) -> M,
    wait: Duration,
) -> Result<T, Refusal>
where
    M: ractor::Message,
    T: Send + 'static,
{
    match actor.call(build, Some(wait)).await {
        Ok(CallResult::Success(v)) => Ok(v),
        _ => Err(Refusal::Unavailable),
    }
}
