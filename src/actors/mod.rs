//! The actor tree and [`Actors`], the typed handle the HTTP layer calls. Every call through
//! the handle has a timeout; every failure to get an answer becomes one [`CommandError`].
//! Queries read the store directly (its snapshots are consistent and never wait for the
//! writer); commands go to the aggregates through the router.

pub mod breaker;
mod breaker_record;
mod command;
pub(crate) mod idempotency;
pub mod kernel;
pub mod notifier;
pub mod payment;
pub mod paymethod;
pub mod projector;
mod reads;
pub mod reconciler;
pub mod store_writer;
mod tree;
pub mod webhook;

pub use breaker::{BreakerConfig, BreakerSnapshot, BreakerState};
pub use command::{ChangeRequest, CommandError, Done, RawNumber, Registration, RemoveRequest};
pub use reads::{MypageRead, PanicTarget};

use crate::domain::IdempotencyKey;
use crate::domain::idempotency::{IdempotencyClaim, IdempotentOutcome};
use crate::domain::paymethod::Fingerprinter;
use crate::domain::{CustomerId, Payment, PaymentId, PaymentMethod, PaymethodId, Position};
use crate::store::{Page, Store, StoreError};
use kernel::{Refusal, RouterMessage, Slot};
use kernel::{RootActor, RootArgs, RootMessage};
use notifier::NotifierMessage;
use payment::PaymentMessage;
use paymethod::{Paymethod, PaymethodCommand, PaymethodError};
use projector::{ProjectorMessage, Views};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
pub use tree::TreeOptions;

/// Which payments to list.
#[derive(Debug, Clone)]
pub enum PaymentFilter {
    Customer(CustomerId),
    /// One payment method's records; with a customer, only if the method is theirs.
    Paymethod(PaymethodId, Option<CustomerId>),
}

/// The handle on the running tree. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Actors {
    root: ActorRef<RootMessage>,
    router: Slot<RouterMessage<Paymethod>>,
    payment: Slot<PaymentMessage>,
    /// The breaker the payment actor calls through, read here to fail fast while open.
    breaker: breaker::Breaker,
    store: Store,
    /// How long a command may wait in queues before it starts; past that it is refused
    /// without running.
    queue_wait: Duration,
    /// How long a caller waits: the queue wait and the longest a command may run once started
    /// (two payment calls and three durable writes), so a command that started always
    /// reaches its caller.
    command_wait: Duration,
    fingerprinter: Fingerprinter,
    in_flight: idempotency::InFlight,
    healthy: Arc<AtomicBool>,
    notifier: Slot<NotifierMessage>,
    projector: Slot<ProjectorMessage>,
    views: Arc<Views>,
    /// The last committed event position.
    commits: Arc<tokio::sync::watch::Sender<Position>>,
}

impl Actors {
    /// Starts the tree under its root supervisor.
    pub async fn start(options: TreeOptions) -> Result<Self, ractor::SpawnErr> {
        let head = options.store.last_position().map_err(|e| {
            tracing::error!(error = %e, "cannot read the event log");
            ractor::SpawnErr::StartupFailed("cannot read the event log".into())
        })?;
        let store = options.store.clone();
        let fingerprinter = options.fingerprinter.clone();
        let tree = tree::Tree::new(&options, head);
        let queue_wait = tree.paymethods.payment_wait + tree.writer.wait();
        // Once started, a command makes at most two payment calls and three durable writes.
        let run_budget = 2 * tree.paymethods.payment_wait + 3 * tree.writer.wait();
        let healthy = Arc::new(AtomicBool::new(true));
        let args = RootArgs {
            children: tree.children(options),
            healthy: healthy.clone(),
        };
        let (root, _) = Actor::spawn(None, RootActor, args).await?;
        Ok(Self {
            root,
            router: tree.router,
            payment: tree.payment,
            breaker: tree.breaker,
            store,
            queue_wait,
            command_wait: queue_wait + run_budget,
            fingerprinter,
            in_flight: idempotency::InFlight::default(),
            healthy,
            notifier: tree.notifier,
            projector: tree.projector,
            views: tree.views,
            commits: tree.commits,
        })
    }

    /// False once the supervisor has given up restarting a child.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Registers, honouring an `Idempotency-Key`: the first request with a key runs and its
    /// final outcome (201 or 402) is kept with it; a repeat with the same request gets that
    /// outcome again (replayed), a different request 422, a concurrent one 409.
    pub async fn register(
        &self,
        mut registration: Registration,
        key: Option<IdempotencyKey>,
    ) -> Answer<Done> {
        let Some(key) = key else {
            return Answer::fresh(self.register_once(registration).await);
        };
        let customer = registration.customer_id.clone();
        let Some(held) = self.in_flight.claim(&customer, &key) else {
            count_key("in_flight");
            return Answer::fresh(Err(CommandError::IdempotencyInFlight));
        };
        let fingerprint = self.fingerprinter.of_registration(
            &customer,
            &registration.number,
            registration.request_id,
        );
        let lookup = key.clone();
        match self.query(move |s| s.idempotency(&customer, &lookup)).await {
            Err(e) => Answer::fresh(Err(e)),
            Ok(Some(record)) if record.fingerprint != fingerprint => {
                count_key("mismatch");
                Answer::fresh(Err(CommandError::IdempotencyMismatch))
            }
            Ok(Some(record)) => {
                count_key("replayed");
                Answer {
                    result: replay(record.outcome),
                    replayed: true,
                }
            }
            Ok(None) => {
                count_key("new");
                registration.idempotency = Some((IdempotencyClaim { key, fingerprint }, held));
                Answer::fresh(self.register_once(registration).await)
            }
        }
    }

    async fn register_once(&self, registration: Registration) -> Result<Done, CommandError> {
        // Every registration needs a payment call: while the breaker is open, answer at once
        // rather than start an aggregate only to be refused by the payment actor.
        if let Some(retry_after) = self.breaker.open_remaining() {
            payment::record("rejected", None);
            return Err(PaymethodError::PaymentUnavailable { retry_after }.into());
        }
        let registration = Box::new(registration);
        self.command(None, |r| PaymethodCommand::Register(registration, r))
            .await
    }

    pub async fn change(
        &self,
        id: PaymethodId,
        change: ChangeRequest,
    ) -> Result<Done, CommandError> {
        self.command(Some(id), |r| PaymethodCommand::Change(change, r))
            .await
    }

    pub async fn remove(
        &self,
        id: PaymethodId,
        remove: RemoveRequest,
    ) -> Result<Position, CommandError> {
        self.command(Some(id), |r| PaymethodCommand::Remove(remove, r))
            .await
    }

    /// Sends a command to aggregate `id` (a new one for `None`) and waits for its answer. A
    /// command still queued when its start-by time passes is refused without running, and
    /// one that started is waited for until it ends: a caller told "unavailable" was never
    /// charged or changed by the command it sent.
    async fn command<T: Send + 'static>(
        &self,
        id: Option<PaymethodId>,
        build: impl FnOnce(RpcReplyPort<paymethod::PaymethodResult<T>>) -> PaymethodCommand,
    ) -> Result<T, CommandError> {
        let router = self.router.get()?;
        let start_by = tokio::time::Instant::now() + self.queue_wait;
        let message = |r| match id {
            Some(id) => RouterMessage::Route(id, build(r), start_by),
            None => RouterMessage::Create(build(r), start_by),
        };
        Ok(ask(&router, message, self.command_wait).await??)
    }

    pub async fn paymethod(&self, id: PaymethodId) -> Result<PaymentMethod, CommandError> {
        let stored = self.query(move |s| s.paymethod(id)).await?;
        stored.map(|s| s.method).ok_or(CommandError::NotFound)
    }

    pub async fn paymethods_of(
        &self,
        customer: CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<PaymentMethod>, CommandError> {
        let page = self.query(move |s| s.paymethods_of(&customer, after, limit));
        Ok(page.await?.map(|s| s.method))
    }

    pub async fn payment(&self, id: PaymentId) -> Result<Payment, CommandError> {
        self.query(move |s| s.payment(id))
            .await?
            .ok_or(CommandError::NotFound)
    }

    pub async fn payments(
        &self,
        filter: PaymentFilter,
        after: u64,
        limit: usize,
    ) -> Result<Page<Payment>, CommandError> {
        self.query(move |s| match &filter {
            PaymentFilter::Customer(c) => s.payments_of_customer(c, after, limit),
            PaymentFilter::Paymethod(p, customer) => {
                let mut page = s.payments_of_paymethod(*p, after, limit)?;
                if let Some(c) = customer {
                    // A method belongs to one customer: its records all match or none do.
                    page.items.retain(|payment| &payment.customer_id == c);
                    if page.items.is_empty() {
                        page.next_after = None;
                    }
                }
                Ok(page)
            }
        })
        .await
    }

    /// The breaker's state, and the end of the open period recorded in the store (what a
    /// restart would restore; recorded shortly after each opening).
    pub async fn breaker(&self) -> Result<(BreakerSnapshot, Option<SystemTime>), CommandError> {
        let payment = self.payment.get()?;
        let snapshot = ask(&payment, PaymentMessage::GetBreaker, Duration::from_secs(2)).await?;
        let recorded = self.query(breaker_record::open_until).await?;
        Ok((snapshot, recorded))
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
        read: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, CommandError> {
        read(&self.store).map_err(|e| {
            tracing::error!(error = %e, "store read failed");
            CommandError::Internal
        })
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

fn replay(outcome: IdempotentOutcome) -> Result<Done, CommandError> {
    match outcome {
        IdempotentOutcome::Registered { method, position } => Ok(Done { position, method }),
        IdempotentOutcome::Declined { payment_id } => Err(PaymethodError::Declined {
            payment_id,
            code: None,
        }
        .into()),
    }
}

/// Calls `actor` and waits at most `wait`; no answer (timeout, actor gone) is `Unavailable`.
pub(crate) async fn ask<M, T>(
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
