//! The reconciler: settles payment calls whose outcome paytree never stored. Every round it
//!
//! 1. asks the payment system (`GET /v1/authorizations?reference=`) about each intent left
//!    open longer than the reconciliation delay: a declined one charged nothing and is
//!    closed; with no authorization it is looked at again after another delay (a payment
//!    system may record a call after its caller gave up), and closed after the third miss;
//!    an approval that no command claimed is given up and its refund owed, in one
//!    transaction that only succeeds if the intent was not re-opened meanwhile by a retry;
//! 2. refunds what is owed (`POST /v1/refunds`, idempotent per authorization) and records each
//!    refund as a payment;
//! 3. prunes idempotency records past their retention.
//!
//! An item the payment system fails or refuses is counted, logged and left for the next round;
//! the round goes on with the items behind it. Its calls go through the circuit breaker like
//! every other payment call: while the breaker is open a round makes none (steps 1 and 2 wait
//! for the next round), and its failures count towards opening it.

use super::breaker::{Breaker, CallError};
use super::kernel::{WriteError, Writer};
use crate::domain::intent::{Intent, RefundOwed, Verdict};
use crate::domain::{Payment, Timestamp};
use crate::provider::{PaymentSystem, ProviderError};
use crate::store::{self, Store, Write};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::future::Future;
use std::time::Duration;

/// The most intents, refunds or pruned records read or written at a time.
const BATCH: usize = 256;
/// The most batches per step of a round, so one round cannot hold the store writer long.
const BATCHES_PER_ROUND: usize = 40;
/// Misses (no authorization found) before an intent is closed as never charged.
const MISSES_TO_CLOSE: u8 = 3;

pub struct ReconcilerActor;

pub struct ReconcilerArgs {
    pub store: Store,
    pub writer: Writer,
    pub system: PaymentSystem,
    /// Intents open longer than this are reconciled.
    pub after: Duration,
    /// Idempotency records older than this are pruned.
    pub retention: Duration,
    /// The breaker every payment call goes through (its timeout is inside).
    pub breaker: Breaker,
}

pub struct ReconcilerState {
    args: ReconcilerArgs,
    /// With replicas, when this replica last renewed the reconciler's lease.
    renewed: Option<std::time::Instant>,
}

pub enum ReconcilerMessage {
    /// Run one round now (sent by the actor's own timer, and by tests through the handle).
    Round,
}

impl Actor for ReconcilerActor {
    type Msg = ReconcilerMessage;
    type State = ReconcilerState;
    type Arguments = ReconcilerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ReconcilerArgs,
    ) -> Result<ReconcilerState, ActorProcessingErr> {
        // The first round runs at once: after a crash, intents may be waiting.
        myself.send_message(ReconcilerMessage::Round)?;
        Ok(ReconcilerState {
            args,
            renewed: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut ReconcilerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ReconcilerMessage::Round => {
                state.round().await;
                myself.send_after(state.pause(), || ReconcilerMessage::Round);
            }
        }
        Ok(())
    }
}

/// With replicas, the lease under which one replica at a time reconciles and prunes, and how
/// long it lasts unless renewed: a round renews it before every intent, refund or pruning
/// batch once a quarter of it has passed (a payment call takes its timeout at most), and
/// stops as soon as another replica holds it, so that two replicas never settle the same
/// intent or pay the same refund at once. A dead replica's lease is taken over within it.
const LEASE: &str = "reconciler";
const LEASE_FOR: Duration = Duration::from_secs(15);

impl ReconcilerState {
    /// Whether this replica reconciles now: always on one process; with replicas, while it
    /// holds the reconciler's lease (taken, or renewed once a quarter of it has passed).
    async fn still_ours(&mut self) -> bool {
        let Some(log) = self.args.store.bus_log() else {
            return true;
        };
        if self.renewed.is_some_and(|at| at.elapsed() < LEASE_FOR / 4) {
            return true;
        }
        let asked = std::time::Instant::now();
        let held = match log.store.lease(LEASE, &log.holder, LEASE_FOR).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "the reconciler's lease could not be taken; trying again next round");
                false
            }
        };
        self.renewed = held.then_some(asked);
        held
    }

    /// Between rounds: often enough that an intent is settled soon after it is due.
    fn pause(&self) -> Duration {
        (self.args.after / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    async fn round(&mut self) {
        self.renewed = None;
        if !self.still_ours().await {
            return;
        }
        let now = Timestamp::now();
        if self.args.breaker.open_remaining().is_some() {
            record("breaker_open");
            tracing::debug!("the breaker is open; the reconciler's calls wait for the next round");
        } else if self.settle_intents(now).await == Step::Done {
            self.pay_refunds_owed().await;
        }
        self.prune(now).await;
        if let Some(open) = self.read(self.args.store.open_intents()).await {
            metrics::gauge!(names::INTENTS_OPEN).set(open as f64);
        }
    }

    /// Step 1 over every overdue intent, paging past the ones it cannot settle; `BreakerOpen`
    /// if the breaker stopped it.
    async fn settle_intents(&mut self, now: Timestamp) -> Step {
        let due = Timestamp(now.0 - self.args.after.as_millis() as i64);
        let mut after: Option<Intent> = None;
        let mut left = 0;
        for _ in 0..BATCHES_PER_ROUND {
            let cursor = after.take();
            let read = self
                .args
                .store
                .open_intents_before(due, cursor.as_ref(), BATCH);
            let Some(intents) = self.read(read).await else {
                break;
            };
            let full = intents.len() == BATCH;
            after = intents.last().cloned();
            for intent in intents {
                match self.reconcile(intent).await {
                    Step::Done => {}
                    Step::Failed => left += 1,
                    Step::Stop => return Step::Stop,
                }
            }
            if !full {
                break;
            }
        }
        left_for_next_round("intents", left);
        Step::Done
    }

    /// Step 2 over every refund owed, paging past the ones that fail.
    async fn pay_refunds_owed(&mut self) {
        let mut after: Option<String> = None;
        let mut left = 0;
        for _ in 0..BATCHES_PER_ROUND {
            let cursor = after.take();
            let read = self.args.store.refunds_owed(cursor.as_deref(), BATCH);
            let Some(owed) = self.read(read).await else {
                break;
            };
            let full = owed.len() == BATCH;
            after = owed.last().map(|r| r.authorization.clone());
            for refund in owed {
                match self.refund(refund).await {
                    Step::Done => {}
                    Step::Failed => left += 1,
                    Step::Stop => return,
                }
            }
            if !full {
                break;
            }
        }
        left_for_next_round("refunds", left);
    }

    /// Step 3.
    async fn prune(&mut self, now: Timestamp) {
        let before = Timestamp(now.0 - self.args.retention.as_millis() as i64);
        for _ in 0..BATCHES_PER_ROUND {
            if !self.still_ours().await {
                return;
            }
            let prune = store::Prune {
                before,
                limit: BATCH,
            };
            let Some(pruned) = self.write(prune).await else {
                break;
            };
            metrics::counter!(names::PRUNED).increment(pruned as u64);
            if pruned < BATCH {
                break;
            }
        }
    }

    /// Settles one overdue intent.
    async fn reconcile(&mut self, intent: Intent) -> Step {
        if !self.still_ours().await {
            return Step::Stop;
        }
        let handle = intent.handle();
        let reference = handle.reference();
        let auth = match self.call(self.args.system.find(&reference)).await {
            Ok(auth) => auth,
            Err(Unanswered::BreakerOpen) => return Step::Stop,
            Err(Unanswered::Failed(e)) => {
                tracing::warn!(error = %e, %reference, "cannot reconcile a payment intent yet");
                record("unreachable");
                return Step::Failed;
            }
        };
        let (verdict, outcome) = match &auth {
            Some(a) if a.approved => {
                let refund = RefundOwed {
                    authorization: a.id.clone(),
                    reference: reference.clone(),
                    customer_id: intent.customer_id.clone(),
                    paymethod_id: intent.paymethod_id,
                    // Nothing for a verification; an order's total for a charge.
                    amount: intent.amount,
                };
                (Verdict::Abandon(refund), "abandoned")
            }
            Some(_) => (Verdict::Close, "declined"),
            None if intent.checks + 1 >= MISSES_TO_CLOSE => (Verdict::Close, "not_charged"),
            None => (Verdict::Recheck, "not_found_yet"),
        };
        let refund = match &verdict {
            Verdict::Abandon(refund) => Some(refund.clone()),
            _ => None,
        };
        let resolve = store::ResolveIntent {
            intent: handle,
            opened_at: intent.opened_at,
            verdict,
        };
        if self.write(resolve).await.is_some() {
            record(outcome);
            tracing::info!(%reference, outcome, "payment intent reconciled");
            if let Some(refund) = refund {
                return self.refund(refund).await;
            }
        }
        Step::Done
    }

    /// Refunds an unclaimed approval and records the refund; one that fails stays owed.
    async fn refund(&mut self, owed: RefundOwed) -> Step {
        if !self.still_ours().await {
            return Step::Stop;
        }
        // One refund per unclaimed approval, whatever is retried.
        let key = format!("unclaimed-{}", owed.authorization);
        let call = self
            .args
            .system
            .refund(&owed.authorization, owed.amount, &key);
        let refund_id = match self.call(call).await {
            Ok(id) => id,
            Err(Unanswered::BreakerOpen) => return Step::Stop,
            Err(Unanswered::Failed(e)) => {
                tracing::warn!(error = %e, reference = %owed.reference, "refund failed; it stays owed");
                record("refund_failed");
                return Step::Failed;
            }
        };
        // No order: an approval nobody claimed paid for nothing paytree kept.
        let payment = Payment::refund(
            owed.customer_id,
            owed.paymethod_id,
            None,
            owed.amount,
            refund_id,
        );
        let command = store::RecordRefund {
            authorization: owed.authorization,
            payment,
        };
        if self.write(command).await.is_none() {
            return Step::Failed;
        }
        record("refunded");
        Step::Done
    }

    /// Calls the payment system through the breaker. A decline or a 404 is an answer;
    /// timeouts, 5xx and refused connections count as the breaker's failures.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, Unanswered> {
        let breaker = &self.args.breaker;
        let permit = breaker.try_acquire().map_err(|_| Unanswered::BreakerOpen)?;
        match breaker.call(permit, ProviderError::is_failure, call).await {
            Ok(answer) => Ok(answer),
            Err(CallError::Rejected(_)) => Err(Unanswered::BreakerOpen),
            Err(CallError::Timeout) => Err(Unanswered::Failed(ProviderError::Timeout)),
            Err(CallError::Inner(e)) => Err(Unanswered::Failed(e)),
        }
    }

    async fn read<T>(
        &self,
        query: impl Future<Output = Result<T, crate::store::StoreError>>,
    ) -> Option<T> {
        match query.await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(error = %e, "reconciler cannot read the store");
                None
            }
        }
    }

    /// Writes through the store writer; `None` if it was refused or not stored.
    async fn write<C: Write>(&self, command: C) -> Option<C::Output> {
        match self.args.writer.write(command).await {
            Ok(output) => Some(output),
            Err(WriteError::Rejected(_)) => None, // a retry re-opened the intent first
            Err(_) => {
                tracing::warn!("reconciler's write was not stored; retrying next round");
                None
            }
        }
    }
}

/// What became of one item of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Done,
    /// It failed or was refused; it waits for the next round, and the round goes on.
    Failed,
    /// The breaker is open, or another replica reconciles now: the round makes no more calls.
    Stop,
}

/// Why a call got no answer.
enum Unanswered {
    BreakerOpen,
    Failed(ProviderError),
}

fn left_for_next_round(what: &'static str, left: usize) {
    if left > 0 {
        tracing::warn!(
            what,
            left,
            "reconciliation round left items for the next round"
        );
    }
}

fn record(outcome: &'static str) {
    metrics::counter!(names::RECONCILIATIONS, "outcome" => outcome).increment(1);
}
