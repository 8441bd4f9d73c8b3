//! The reconciler: settles payment calls whose outcome paytree never stored. Every round it
//!
//! 1. asks the payment system (`GET /v1/authorizations?reference=`) about each intent left
//!    open longer than the reconciliation delay: a declined one charged nothing and is
//!    closed; with no authorization it is looked at again after another delay (a payment
//!    system may record a call after its caller gave up), and closed after the third miss;
//!    an approval that no command claimed is given up and its refund owed, in one
//!    transaction that only succeeds if the intent was not re-opened meanwhile by a retry;
//! 2. refunds what is owed (`POST /v1/refunds`, idempotent per authorization) and records each
//!    refund as a payment; a refund that fails stays owed for the next round;
//! 3. prunes idempotency records past their retention.
//!
//! It calls the payment system directly, not through the breaker: its calls are few, never
//! on a request's path, and a failure only postpones them to the next round.

use super::slot::Slot;
use super::store_writer::{StoreWriterMessage, WriteError};
use crate::domain::intent::{Intent, RefundOwed, Verdict};
use crate::domain::payment::VERIFICATION_CURRENCY;
use crate::domain::{Payment, PaymentId, PaymentPurpose, PaymentStatus, Timestamp};
use crate::provider::PaymentSystem;
use crate::store::{Command, Outcome, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
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
    pub writer: Slot<StoreWriterMessage>,
    pub system: PaymentSystem,
    /// Intents open longer than this are reconciled.
    pub after: Duration,
    /// Idempotency records older than this are pruned.
    pub retention: Duration,
    /// Timeout of each call to the payment system.
    pub call_timeout: Duration,
}

pub struct ReconcilerState {
    args: ReconcilerArgs,
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
        Ok(ReconcilerState { args })
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

impl ReconcilerState {
    /// Between rounds: often enough that an intent is settled soon after it is due.
    fn pause(&self) -> Duration {
        (self.args.after / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    async fn round(&mut self) {
        let now = Timestamp::now();
        let due = Timestamp(now.0 - self.args.after.as_millis() as i64);
        'intents: for _ in 0..BATCHES_PER_ROUND {
            let Some(intents) = self.read(move |s| s.open_intents_before(due, BATCH)).await else {
                return;
            };
            let full = intents.len() == BATCH;
            for intent in intents {
                if !self.reconcile(intent).await {
                    break 'intents; // the payment system is not answering: next round
                }
            }
            if !full {
                break;
            }
        }
        if let Some(owed) = self.read(|s| s.refunds_owed(BATCH)).await {
            for refund in owed {
                if !self.refund(refund).await {
                    break;
                }
            }
        }
        let before = Timestamp(now.0 - self.args.retention.as_millis() as i64);
        for _ in 0..BATCHES_PER_ROUND {
            let prune = Command::Prune {
                before,
                limit: BATCH,
            };
            let Some(outcome) = self.write(prune).await else {
                break;
            };
            metrics::counter!(names::PRUNED).increment(outcome.pruned as u64);
            if outcome.pruned < BATCH {
                break;
            }
        }
        if let Some(open) = self.read(|s| s.open_intents()).await {
            metrics::gauge!(names::INTENTS_OPEN).set(open as f64);
        }
    }

    /// Settles one overdue intent; false if the payment system could not be asked.
    async fn reconcile(&mut self, intent: Intent) -> bool {
        let handle = intent.handle();
        let reference = handle.reference();
        let found =
            tokio::time::timeout(self.args.call_timeout, self.args.system.find(&reference)).await;
        let auth = match found {
            Ok(Ok(auth)) => auth,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, %reference, "cannot reconcile a payment intent yet");
                record("unreachable");
                return false;
            }
            Err(_) => {
                tracing::warn!(%reference, "cannot reconcile a payment intent yet: timed out");
                record("unreachable");
                return false;
            }
        };
        let (verdict, outcome) = match &auth {
            Some(a) if a.approved => {
                let refund = RefundOwed {
                    authorization: a.id.clone(),
                    reference: reference.clone(),
                    customer_id: intent.customer_id.clone(),
                    paymethod_id: intent.paymethod_id,
                    // Intents are verifications, which authorize nothing.
                    amount: 0,
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
        let resolve = Command::ResolveIntent {
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
        true
    }

    /// Refunds an unclaimed approval and records the refund; false if it has to wait.
    async fn refund(&mut self, owed: RefundOwed) -> bool {
        let call = self.args.system.refund(&owed.authorization, owed.amount);
        let refund_id = match tokio::time::timeout(self.args.call_timeout, call).await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, reference = %owed.reference, "refund failed; it stays owed");
                record("refund_failed");
                return false;
            }
            Err(_) => {
                tracing::warn!(reference = %owed.reference, "refund timed out; it stays owed");
                record("refund_failed");
                return false;
            }
        };
        let payment = Payment {
            id: PaymentId(0),
            paymethod_id: owed.paymethod_id,
            customer_id: owed.customer_id,
            request_id: None,
            purpose: PaymentPurpose::Refund,
            amount: owed.amount,
            currency: VERIFICATION_CURRENCY.to_owned(),
            status: PaymentStatus::Refunded,
            provider_reference: refund_id,
            decline_code: None,
            created_at: Timestamp::now(),
        };
        let command = Command::RecordRefund {
            authorization: owed.authorization,
            payment,
        };
        let done = self.write(command).await.is_some();
        if done {
            record("refunded");
        }
        done
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Option<T> {
        let store = self.args.store.clone();
        match tokio::task::spawn_blocking(move || query(&store)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reconciler cannot read the store");
                None
            }
            Err(_) => None,
        }
    }

    /// Writes through the store writer; `None` if it was refused or not stored.
    async fn write(&self, command: Command) -> Option<Outcome> {
        let writer = self.args.writer.get().ok()?;
        let build = |reply| StoreWriterMessage::Write(command, reply);
        match super::ask(&writer, build, Duration::from_secs(10)).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(WriteError::Rejected(_))) => None, // a retry re-opened the intent first
            _ => {
                tracing::warn!("reconciler's write was not stored; retrying next round");
                None
            }
        }
    }
}

fn record(outcome: &'static str) {
    metrics::counter!(names::RECONCILIATIONS, "outcome" => outcome).increment(1);
}
