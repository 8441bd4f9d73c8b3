//! The payment-method aggregate: one implementation of [`Aggregate`]. It validates each
//! command against its state, asks the payment actor for a verification (never inside a store
//! transaction), sends one write to the store writer, and replies after that write is
//! durable. It never calls another aggregate. With no state left (declined, removed, unknown
//! id) its host drains and stops; the router starts a new incarnation when needed.

pub mod handle;

use super::command::{ChangeRequest, Done, Registration, RemoveRequest};
use super::idempotency::Claim;
use super::kernel::{
    Aggregate, AggregateError, AggregateId, CONFLICT_RETRIES, Command as KernelCommand,
    CommandResult, Handled, LoadError, Refusal, WriteError, Writer, read_state, unread,
};
use crate::domain::intent::{IntentRef, RefundOwed};
use crate::domain::paymethod::{ChangePlan, Fingerprinter, plan_change};
use crate::domain::{
    CustomerId, FieldError, Payment, PaymentId, PaymethodId, Position, StoredMethod,
};
use crate::store::{self, Store, Stored, Write};
use crate::telemetry::names;
use ractor::RpcReplyPort;
use std::time::Duration;

mod verify;
use super::payment::call::{PaidWriteError, PaymentLine, keyed_base, paid_write, random_base};
use verify::Verification;

impl AggregateId for PaymethodId {
    fn from_sequence(value: u64) -> Self {
        Self(value)
    }
}

/// What every payment-method aggregate shares.
#[derive(Debug)]
pub struct PaymethodServices {
    pub store: Store,
    pub writer: Writer,
    pub payment: PaymentLine,
    pub fingerprinter: Fingerprinter,
}

/// A payment method's domain failures: answers, not faults.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaymethodError {
    #[error("no such payment method")]
    NotFound,
    #[error("the payment method is at version {current}")]
    VersionMismatch { current: u64 },
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("the payment system declined the verification")]
    Declined {
        payment_id: PaymentId,
        code: Option<String>,
    },
    #[error("the payment system is unavailable")]
    PaymentUnavailable { retry_after: Duration },
    #[error("the payment method was changed concurrently")]
    Conflict,
}

/// A command's result as its caller gets it.
pub type PaymethodResult<T> = CommandResult<Paymethod, T>;
type Reply<T> = RpcReplyPort<PaymethodResult<T>>;

/// The aggregate's state as its host keeps it.
pub struct Paymethod {
    id: PaymethodId,
    current: Option<StoredMethod>,
    /// Set by a write whose fate is unknown, for the command that made it.
    unsure: bool,
}

pub enum PaymethodCommand {
    /// Register this (fresh) aggregate; replies with the stored method once durable. Boxed,
    /// so that the message (which every live aggregate's processing loop has room for) is
    /// small.
    Register(Box<Registration>, Reply<Done>),
    /// Change it; replies with the new state (or the unchanged one for a no-op).
    Change(ChangeRequest, Reply<Done>),
    /// Remove it; replies with the position of the removal event.
    Remove(RemoveRequest, Reply<Position>),
    /// Test hook: fail as a bug in this aggregate would.
    Panic,
}

impl KernelCommand for PaymethodCommand {
    fn caller_gone(&self) -> bool {
        match self {
            Self::Register(_, reply) | Self::Change(_, reply) => reply.is_closed(),
            Self::Remove(_, reply) => reply.is_closed(),
            Self::Panic => false,
        }
    }

    fn refuse(self, refusal: Refusal) {
        match self {
            Self::Register(_, reply) | Self::Change(_, reply) => send(reply, Err(refusal.into())),
            Self::Remove(_, reply) => send(reply, Err(refusal.into())),
            Self::Panic => {}
        }
    }
}

/// Replies, ignoring a caller that has gone (a timed-out caller must not kill the actor).
fn send<T>(reply: Reply<T>, result: PaymethodResult<T>) {
    let _ = reply.send(result);
}

impl Aggregate for Paymethod {
    const KIND: &'static str = "paymethod";
    type Id = PaymethodId;
    type Command = PaymethodCommand;
    type Error = PaymethodError;
    type Services = PaymethodServices;

    fn fresh(id: PaymethodId) -> Self {
        Self {
            id,
            current: None,
            unsure: false,
        }
    }

    async fn load(id: PaymethodId, services: &PaymethodServices) -> Result<Self, LoadError> {
        let current = read_state(services.store.paymethod(id)).await?;
        Ok(Self {
            id,
            current,
            unsure: false,
        })
    }

    async fn handle(&mut self, command: PaymethodCommand, services: &PaymethodServices) -> Handled {
        self.unsure = false;
        match command {
            PaymethodCommand::Register(r, reply) => send(reply, self.register(*r, services).await),
            PaymethodCommand::Change(c, reply) => send(reply, self.change(c, services).await),
            PaymethodCommand::Remove(r, reply) => send(reply, self.remove(r, services).await),
            PaymethodCommand::Panic => panic!("test hook: aggregate {} fails", self.id),
        }
        Handled::unless_unsure(self.unsure)
    }

    fn is_empty(&self) -> bool {
        self.current.is_none()
    }
}

impl Paymethod {
    async fn register(
        &mut self,
        r: Registration,
        svc: &PaymethodServices,
    ) -> PaymethodResult<Done> {
        if self.current.is_some() {
            tracing::error!(id = %self.id, "registration sent to an existing aggregate");
            return Err(Refusal::Internal.into());
        }
        // `held` keeps the key claimed until this registration's outcome is durable, or,
        // should its last write's wait run out, until that write's fate is known.
        let (claim, mut held) = r
            .idempotency
            .map(|(c, h)| (Some(c), Some(h)))
            .unwrap_or_default();
        let intent_base = match &claim {
            Some(claim) => keyed_base(
                "reg",
                &r.customer_id,
                claim.key.as_str(),
                &claim.fingerprint,
            ),
            None => random_base("reg"),
        };
        let verified = self
            .verify(
                Verification {
                    customer: &r.customer_id,
                    number: &r.number,
                    request_id: r.request_id,
                    paymethod: None,
                    intent_base,
                    idempotency: claim.clone(),
                },
                &mut held,
                svc,
            )
            .await?;
        let method = StoredMethod::registered(
            self.id,
            r.customer_id,
            &r.number,
            r.request_id,
            verified.token,
            svc.fingerprinter.of(&r.number),
        );
        let owed = approval(&verified.payment, &verified.intent);
        let register = store::Register {
            method: method.clone(),
            payment: verified.payment,
            intent: verified.intent,
            idempotency: claim,
        };
        let ids = self.write(register, held, Some(owed), svc).await?;
        Ok(self.stored(method, ids))
    }

    async fn change(&mut self, c: ChangeRequest, svc: &PaymethodServices) -> PaymethodResult<Done> {
        let current = self.owned_by(c.owner.as_ref())?;
        check_version(&current, c.if_match)?;
        let number = c.number.as_ref().map(|n| n.0.as_str());
        let plan = plan_change(&current, c.kind, number, &svc.fingerprinter)
            .map_err(PaymethodError::Invalid)?;
        let ChangePlan::NewNumber(number) = plan else {
            return Ok(Done {
                position: current.last_position,
                method: current.method,
            });
        };
        let verified = self
            .verify(
                Verification {
                    customer: &current.method.customer_id,
                    number: &number,
                    request_id: current.method.request_id,
                    paymethod: Some(current.method.id),
                    intent_base: random_base("chg"),
                    idempotency: None,
                },
                &mut None,
                svc,
            )
            .await?;
        let fingerprint = svc.fingerprinter.of(&number);
        let owed = approval(&verified.payment, &verified.intent);
        let still = |me: &Self| {
            let current = me.owned_by(c.owner.as_ref())?;
            check_version(&current, c.if_match)?;
            Ok(current)
        };
        let change = |current: &StoredMethod| {
            let method = current.changed(&number, verified.token.clone(), fingerprint.clone());
            let change = store::Change {
                method: method.clone(),
                expected_version: current.method.version,
                previous: current.method.attrs(),
                payment: verified.payment.clone(),
                intent: verified.intent.clone(),
            };
            (change, method)
        };
        let (method, ids) = self
            .write_current(current, Some(owed), svc, still, change)
            .await?;
        Ok(self.stored(method, ids))
    }

    async fn remove(
        &mut self,
        r: RemoveRequest,
        svc: &PaymethodServices,
    ) -> PaymethodResult<Position> {
        let still = |me: &Self| {
            let current = me.owned_by(r.owner.as_ref())?;
            check_version(&current, r.if_match)?;
            Ok(current)
        };
        let current = still(self)?;
        let id = self.id;
        let remove = |current: &StoredMethod| {
            let expected_version = current.method.version;
            (
                store::Remove {
                    id,
                    expected_version,
                },
                (),
            )
        };
        let ((), position) = self
            .write_current(current, None, svc, still, remove)
            .await?;
        self.current = None;
        Ok(position)
    }

    /// The current state, if there is one that `owner` (when given) may act on: another
    /// customer's method is not found, exactly as a missing one, before anything else is
    /// checked (not even `If-Match`), so its existence does not show.
    fn owned_by(&self, owner: Option<&CustomerId>) -> PaymethodResult<StoredMethod> {
        match &self.current {
            Some(current) if owner.is_none_or(|o| *o == current.method.customer_id) => {
                Ok(current.clone())
            }
            _ => Err(PaymethodError::NotFound.into()),
        }
    }

    /// Takes the ids the store assigned into the new state and keeps it.
    fn stored(&mut self, mut stored: StoredMethod, ids: Stored) -> Done {
        stored.method.verification_payment_id = ids.payment_id;
        stored.last_position = ids.position;
        let done = Done {
            position: stored.last_position,
            method: stored.method.clone(),
        };
        self.current = Some(stored);
        done
    }

    /// Writes the command `build` makes of the method as it is (`current`). Should another
    /// replica have written the method first (a version conflict), reads it again and, if
    /// `still` allows the command on what it holds now, writes what `build` makes of that, at
    /// most [`CONFLICT_RETRIES`] more times before answering 409. The approval in hand
    /// (`owed`, owed back if the write is refused otherwise) serves every attempt: nothing is
    /// paid twice. Returns what `build` made besides the command, and what the store assigned.
    async fn write_current<C: Write, T>(
        &mut self,
        mut current: StoredMethod,
        owed: Option<RefundOwed>,
        svc: &PaymethodServices,
        still: impl Fn(&Self) -> PaymethodResult<StoredMethod>,
        build: impl Fn(&StoredMethod) -> (C, T),
    ) -> PaymethodResult<(T, C::Output)> {
        let mut attempt = 0;
        loop {
            let (command, made) = build(&current);
            match paid_write(&svc.writer, command, None, owed.clone()).await {
                Ok(output) => return Ok((made, output)),
                Err(PaidWriteError::VersionConflict) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    metrics::counter!(names::CONFLICTS_RETRIED, "kind" => Self::KIND).increment(1);
                    self.current = read_state(svc.store.paymethod(self.id))
                        .await
                        .map_err(unread)?;
                    current = still(self)?;
                }
                Err(e) => return Err(self.paid_error(e)),
            }
        }
    }

    /// Sends one write to the store writer and waits until it is durable (see
    /// [`paid_write`]).
    async fn write<C: Write>(
        &mut self,
        command: C,
        held: Option<Claim>,
        owed: Option<RefundOwed>,
        svc: &PaymethodServices,
    ) -> PaymethodResult<C::Output> {
        paid_write(&svc.writer, command, held, owed)
            .await
            .map_err(|e| self.paid_error(e))
    }

    /// The answer to a write the store did not take.
    fn paid_error(&mut self, e: PaidWriteError) -> AggregateError<PaymethodError> {
        match e {
            PaidWriteError::Unwritten(e) => self.unwritten(e),
            PaidWriteError::VersionConflict => {
                // Another incarnation (or replica) wrote first: read the stored state again.
                self.unsure = true;
                PaymethodError::Conflict.into()
            }
            PaidWriteError::KeyRecorded => PaymethodError::Conflict.into(),
            PaidWriteError::IntentClosed => PaymethodError::PaymentUnavailable {
                retry_after: Duration::from_secs(1),
            }
            .into(),
        }
    }
}

impl Paymethod {
    /// The refusal for a write that was not stored (or may have been: then the state is
    /// reloaded before the next command).
    fn unwritten(&mut self, e: WriteError) -> AggregateError<PaymethodError> {
        self.unsure |= e.leaves_unsure();
        e.refusal().into()
    }
}

fn domain<T>(e: PaymethodError) -> PaymethodResult<T> {
    Err(e.into())
}

impl From<PaymethodError> for AggregateError<PaymethodError> {
    fn from(e: PaymethodError) -> Self {
        Self::Domain(e)
    }
}

/// The approval a verified command claims, as the refund owed should the store refuse it.
fn approval(payment: &Payment, intent: &IntentRef) -> RefundOwed {
    RefundOwed {
        authorization: payment.provider_reference.clone(),
        reference: intent.reference(),
        customer_id: payment.customer_id.clone(),
        paymethod_id: payment.paymethod_id,
        amount: payment.amount,
    }
}

fn check_version(current: &StoredMethod, if_match: Option<u64>) -> PaymethodResult<()> {
    let version = current.method.version;
    match if_match {
        Some(v) if v != version => domain(PaymethodError::VersionMismatch { current: version }),
        _ => Ok(()),
    }
}
