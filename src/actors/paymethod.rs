//! One actor per payment-method aggregate, the only writer of that aggregate. It decides a
//! command against its state, asks the payment actor for a verification (never inside a store
//! transaction), sends one write to the store writer, and replies after that write is
//! durable. It never calls another aggregate. With no state left (declined, removed, unknown
//! id) it drains and stops; the router starts a new incarnation from the store when needed.

use super::ask;
use super::command::{ChangeRequest, CommandError, Done, Registration, RemoveRequest};
use super::payment::PaymentMessage;
use super::slot::Slot;
use super::store_writer::{StoreWriterMessage, WriteError};
use crate::domain::intent::RefundOwed;
use crate::domain::paymethod::{ChangePlan, Fingerprinter, plan_change};
use crate::domain::{PaymentMethod, PaymethodId, Position, Timestamp};
use crate::store::{Command, Outcome, Rejected, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

mod verify;
use verify::{Verification, keyed_base, random_base};

pub struct PaymethodActor;

/// What every aggregate shares.
#[derive(Debug)]
pub struct AggregateContext {
    pub store: Store,
    pub writer: Slot<StoreWriterMessage>,
    pub payment: Slot<PaymentMessage>,
    pub fingerprinter: Fingerprinter,
    /// How long to wait for the payment actor's answer (its own timeout plus a margin).
    pub payment_wait: Duration,
    /// How long to wait for a durable write.
    pub write_wait: Duration,
    /// An aggregate idle this long stops (by draining); the store keeps its state.
    pub idle_timeout: Duration,
}

pub struct PaymethodArgs {
    pub id: PaymethodId,
    /// True for a freshly allocated id: nothing to load.
    pub fresh: bool,
    pub ctx: Arc<AggregateContext>,
    /// Commands routed to this actor and not yet taken from its mailbox; the router refuses
    /// more past its bound.
    pub queued: Arc<AtomicUsize>,
}

pub struct PaymethodState {
    id: PaymethodId,
    current: Option<PaymentMethod>,
    /// Set when a write's fate is unknown: the cached state may be wrong, so the actor
    /// fails after replying and the next message rebuilds it from the store.
    poisoned: bool,
    last_active: Instant,
    idle_timer_armed: bool,
    ctx: Arc<AggregateContext>,
    queued: Arc<AtomicUsize>,
}

type Reply<T> = RpcReplyPort<Result<T, CommandError>>;

pub enum PaymethodMessage {
    /// Register this (fresh) aggregate; replies with the stored method once durable. Boxed,
    /// so that the message (which every live aggregate's processing loop has room for) is
    /// small.
    Register(Box<Registration>, Reply<Done>),
    /// Change it; replies with the new state (or the unchanged one for a no-op).
    Change(ChangeRequest, Reply<Done>),
    /// Remove it; replies with the position of the removal event.
    Remove(RemoveRequest, Reply<Position>),
    /// Stop if idle since the last command (sent by the actor's own timer). It is handled
    /// between commands, so an aggregate in the middle of a payment is never passivated.
    Passivate,
    /// Stop now, finishing what is queued (the router makes room for another aggregate).
    /// Like `Passivate`, it waits for the command in progress.
    Evict,
    /// Test hook: fail as a bug in this aggregate would.
    Panic,
}

impl PaymethodMessage {
    /// Whether the router counted this message against the mailbox bound.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Self::Register(..) | Self::Change(..) | Self::Remove(..) | Self::Panic
        )
    }

    /// Answers the command with `error` instead of running it.
    pub fn reject(self, error: CommandError) {
        match self {
            Self::Register(_, reply) | Self::Change(_, reply) => send(reply, Err(error)),
            Self::Remove(_, reply) => send(reply, Err(error)),
            Self::Passivate | Self::Evict | Self::Panic => {}
        }
    }
}

impl Actor for PaymethodActor {
    type Msg = PaymethodMessage;
    type State = PaymethodState;
    type Arguments = PaymethodArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PaymethodArgs,
    ) -> Result<PaymethodState, ActorProcessingErr> {
        let current = if args.fresh {
            None
        } else {
            let started = std::time::Instant::now();
            let store = args.ctx.store.clone();
            let id = args.id;
            let loaded = tokio::task::spawn_blocking(move || store.paymethod(id)).await??;
            metrics::histogram!(names::AGGREGATE_REHYDRATION)
                .record(started.elapsed().as_secs_f64());
            loaded
        };
        Ok(PaymethodState {
            id: args.id,
            current,
            poisoned: false,
            last_active: Instant::now(),
            idle_timer_armed: false,
            ctx: args.ctx,
            queued: args.queued,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut PaymethodState,
    ) -> Result<(), ActorProcessingErr> {
        if message.is_command() {
            state.queued.fetch_sub(1, Ordering::Relaxed);
        }
        // Each command's future is boxed for the time it runs: inline, the largest command
        // future would size the actor's processing loop, which every live aggregate keeps
        // allocated while it waits for its next message; boxed, it costs only while it runs.
        match message {
            PaymethodMessage::Register(r, reply) => send(reply, Box::pin(state.register(*r)).await),
            PaymethodMessage::Change(c, reply) => send(reply, Box::pin(state.change(c)).await),
            PaymethodMessage::Remove(r, reply) => send(reply, Box::pin(state.remove(r)).await),
            PaymethodMessage::Passivate => {
                state.idle_timer_armed = false;
                let idle = state.last_active.elapsed();
                if idle >= state.ctx.idle_timeout {
                    passivate(&myself, "idle");
                    return Ok(());
                }
                state.arm_idle_timer(&myself, state.ctx.idle_timeout - idle);
                return Ok(());
            }
            PaymethodMessage::Evict => {
                passivate(&myself, "lru");
                return Ok(());
            }
            PaymethodMessage::Panic => panic!("test hook: aggregate {} fails", state.id),
        }
        state.last_active = Instant::now();
        if state.poisoned {
            return Err(format!(
                "aggregate {} lost track of a write; restarting from the store",
                state.id
            )
            .into());
        }
        if state.current.is_none() {
            // Nothing to hold: finish what is queued, then stop. Later messages are
            // re-routed by the router to a new incarnation.
            let _ = myself.drain();
        } else if !state.idle_timer_armed {
            state.arm_idle_timer(&myself, state.ctx.idle_timeout);
        }
        Ok(())
    }
}

/// Stops by draining: what is queued is still handled; the router re-routes what comes after.
fn passivate(myself: &ActorRef<PaymethodMessage>, reason: &'static str) {
    if myself.drain().is_ok() {
        metrics::counter!(names::AGGREGATE_PASSIVATIONS, "reason" => reason).increment(1);
    }
}

/// Replies, ignoring a caller that has gone (a timed-out caller must not kill the actor).
fn send<T>(reply: Reply<T>, result: Result<T, CommandError>) {
    let _ = reply.send(result);
}

impl PaymethodState {
    fn arm_idle_timer(&mut self, myself: &ActorRef<PaymethodMessage>, after: Duration) {
        self.idle_timer_armed = true;
        myself.send_after(after, || PaymethodMessage::Passivate);
    }

    async fn register(&mut self, r: Registration) -> Result<Done, CommandError> {
        if self.current.is_some() {
            tracing::error!(id = %self.id, "registration sent to an existing aggregate");
            return Err(CommandError::Internal);
        }
        // `_held` keeps the key claimed until this registration's outcome is durable.
        let (claim, _held) = r
            .idempotency
            .map(|(c, h)| (Some(c), Some(h)))
            .unwrap_or_default();
        let intent_base = match &claim {
            Some(claim) => keyed_base(&r.customer_id, claim),
            None => random_base("reg"),
        };
        let verified = self
            .verify(Verification {
                customer: &r.customer_id,
                number: &r.number,
                request_id: r.request_id,
                paymethod: None,
                intent_base,
                idempotency: claim.clone(),
            })
            .await?;
        let method = PaymentMethod::registered(
            self.id,
            r.customer_id,
            &r.number,
            r.request_id,
            verified.token,
            self.ctx.fingerprinter.of(&r.number),
        );
        let outcome = self
            .write(Command::Register {
                method: method.clone(),
                payment: verified.payment,
                intent: verified.intent,
                idempotency: claim,
            })
            .await?;
        Ok(self.stored(method, &outcome))
    }

    async fn change(&mut self, c: ChangeRequest) -> Result<Done, CommandError> {
        let current = self.current.clone().ok_or(CommandError::NotFound)?;
        check_version(&current, c.if_match)?;
        let number = c.number.as_ref().map(|n| n.0.as_str());
        let plan = plan_change(&current, c.kind, number, &self.ctx.fingerprinter)
            .map_err(CommandError::Invalid)?;
        let ChangePlan::NewNumber(number) = plan else {
            return Ok(Done {
                position: current.last_position,
                method: current,
            });
        };
        let verified = self
            .verify(Verification {
                customer: &current.customer_id,
                number: &number,
                request_id: current.request_id,
                paymethod: Some(current.id),
                intent_base: random_base("chg"),
                idempotency: None,
            })
            .await?;
        let method = PaymentMethod {
            kind: number.kind(),
            brand: number.brand(),
            last4: number.last4(),
            version: current.version + 1,
            token: verified.token,
            fingerprint: self.ctx.fingerprinter.of(&number),
            updated_at: Timestamp::now(),
            ..current.clone()
        };
        let outcome = self
            .write(Command::Change {
                method: method.clone(),
                expected_version: current.version,
                previous: current.attrs(),
                payment: verified.payment,
                intent: verified.intent,
            })
            .await?;
        Ok(self.stored(method, &outcome))
    }

    async fn remove(&mut self, r: RemoveRequest) -> Result<Position, CommandError> {
        let current = self.current.clone().ok_or(CommandError::NotFound)?;
        check_version(&current, r.if_match)?;
        let outcome = self
            .write(Command::Remove {
                id: self.id,
                expected_version: current.version,
            })
            .await?;
        self.current = None;
        outcome.position.ok_or(CommandError::Internal)
    }

    /// Takes the ids the store assigned into the new state and keeps it.
    fn stored(&mut self, mut method: PaymentMethod, outcome: &Outcome) -> Done {
        if let Some(payment_id) = outcome.payment_id {
            method.verification_payment_id = payment_id;
        }
        if let Some(position) = outcome.position {
            method.last_position = position;
        }
        self.current = Some(method.clone());
        Done {
            position: method.last_position,
            method,
        }
    }

    /// Sends one write to the store writer and waits until it is durable.
    async fn write(&mut self, command: Command) -> Result<Outcome, CommandError> {
        let writer = self.ctx.writer.get()?;
        let unclaimed = approval_of(&command);
        let build = |reply| StoreWriterMessage::Write(command, reply);
        match ask(&writer, build, self.ctx.write_wait).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(WriteError::Rejected(Rejected::VersionConflict))) => {
                // Another incarnation wrote first: take the stored state as ours again.
                let store = self.ctx.store.clone();
                let id = self.id;
                self.current = tokio::task::spawn_blocking(move || store.paymethod(id))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                Err(CommandError::Conflict)
            }
            Ok(Err(WriteError::Rejected(Rejected::IntentClosed))) => {
                // The reconciler gave up on this payment call before its answer came: nothing
                // was stored, and the approval in hand is owed back.
                tracing::warn!(id = %self.id, "a payment intent was reconciled before its answer came");
                if let Some(refund) = unclaimed {
                    let build =
                        |reply| StoreWriterMessage::Write(Command::OweRefund { refund }, reply);
                    if !matches!(ask(&writer, build, self.ctx.write_wait).await, Ok(Ok(_))) {
                        tracing::error!(id = %self.id, "an unclaimed approval's refund could not be recorded");
                    }
                }
                Err(CommandError::PaymentUnavailable {
                    retry_after: Duration::from_secs(1),
                })
            }
            _ => {
                self.poisoned = true;
                Err(CommandError::Internal)
            }
        }
    }
}

/// The approval a verified command would claim, as a refund owed should it be refused.
fn approval_of(command: &Command) -> Option<RefundOwed> {
    let (payment, intent) = match command {
        Command::Register {
            payment, intent, ..
        }
        | Command::Change {
            payment, intent, ..
        } => (payment, intent),
        _ => return None,
    };
    Some(RefundOwed {
        authorization: payment.provider_reference.clone(),
        reference: intent.reference(),
        customer_id: payment.customer_id.clone(),
        paymethod_id: payment.paymethod_id,
        amount: payment.amount,
    })
}

fn check_version(current: &PaymentMethod, if_match: Option<u64>) -> Result<(), CommandError> {
    match if_match {
        Some(v) if v != current.version => Err(CommandError::VersionMismatch {
            current: current.version,
        }),
        _ => Ok(()),
    }
}
