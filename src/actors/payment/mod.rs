//! The payment actor: the only way to the payment system. A call is first admitted — a place
//! in the bulkhead (at most `max_in_flight` at once) and the circuit breaker's leave — so an
//! open breaker answers at once, before the caller records anything. The admitted call then
//! runs with the timeout inside the breaker's guard, in a task of its own, so one slow call
//! never queues the next; the actor itself never waits on the payment system.

pub mod handle;

pub mod breaker;
pub(crate) mod breaker_record;
pub(crate) mod call;

use crate::provider::{Authorization, AuthorizeRequest, PaymentSystem, ProviderError};
use crate::telemetry::names;
use breaker::{Breaker, BreakerSnapshot, CallError, Permit};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct PaymentActor;

pub struct PaymentArgs {
    pub system: PaymentSystem,
    /// Shared with the supervisor, so a restart of this actor keeps the breaker's state.
    pub breaker: Breaker,
    pub max_in_flight: usize,
}

pub struct PaymentState {
    system: PaymentSystem,
    breaker: Breaker,
    bulkhead: Arc<Semaphore>,
}

/// Why the payment system gave no answer; every case means "try again shortly".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("circuit breaker is open")]
    BreakerOpen { retry_after: Duration },
    #[error("too many payment calls in flight")]
    Bulkhead,
    /// The payment actor did not answer its caller in time.
    #[error("the payment actor did not answer in time")]
    NoAnswer,
    #[error("payment call failed: {0}")]
    Failed(ProviderError),
}

impl Unavailable {
    /// How long to wait before trying again (the HTTP mapping rounds it up for `Retry-After`).
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::BreakerOpen { retry_after } => *retry_after,
            _ => Duration::from_secs(1),
        }
    }
}

/// Leave to make one payment call: a bulkhead place and the breaker's permit, both given
/// back when it is dropped (also when the caller gives up before calling).
#[derive(Debug)]
pub struct Admission {
    slot: OwnedSemaphorePermit,
    permit: Permit,
}

pub enum PaymentMessage {
    /// Ask leave to make a call of this kind; refused at once while the breaker is open or
    /// the bulkhead is full.
    Admit(CallKind, RpcReplyPort<Result<Admission, Unavailable>>),
    /// Authorize with the payment system; the reply is its answer (approved or declined)
    /// or why there is none.
    Authorize(
        Admission,
        AuthorizeRequest,
        RpcReplyPort<Result<Authorization, Unavailable>>,
    ),
    /// Refund at the payment system (idempotent by the request's key); the reply is the
    /// refund's id or why there is none.
    Refund(
        Admission,
        RefundRequest,
        RpcReplyPort<Result<String, Unavailable>>,
    ),
    /// The breaker's state.
    GetBreaker(RpcReplyPort<BreakerSnapshot>),
}

/// What a payment call is for, as the metrics say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A zero-amount authorization of a new number.
    Verification,
    /// An authorization of an amount on a stored token (an order).
    Charge,
    Refund,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::Charge => "charge",
            Self::Refund => "refund",
        }
    }

    /// The kind of an authorization of `amount`.
    pub fn of_amount(amount: u64) -> Self {
        if amount == 0 {
            Self::Verification
        } else {
            Self::Charge
        }
    }
}

/// One refund: how much of which authorization, under which idempotency key.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub authorization: String,
    pub amount: u64,
    pub idempotency_key: String,
}

impl Actor for PaymentActor {
    type Msg = PaymentMessage;
    type State = PaymentState;
    type Arguments = PaymentArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PaymentArgs,
    ) -> Result<PaymentState, ActorProcessingErr> {
        Ok(PaymentState {
            system: args.system,
            breaker: args.breaker,
            bulkhead: Arc::new(Semaphore::new(args.max_in_flight)),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut PaymentState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PaymentMessage::Admit(kind, reply) => {
                let _ = reply.send(state.admit(kind));
            }
            PaymentMessage::Authorize(admission, request, reply) => {
                state.authorize(admission, request, reply)
            }
            PaymentMessage::Refund(admission, request, reply) => {
                state.refund(admission, request, reply)
            }
            PaymentMessage::GetBreaker(reply) => {
                let _ = reply.send(state.breaker.snapshot());
            }
        }
        Ok(())
    }
}

impl PaymentState {
    fn admit(&self, kind: CallKind) -> Result<Admission, Unavailable> {
        let Ok(slot) = self.bulkhead.clone().try_acquire_owned() else {
            record(kind, "rejected", None);
            return Err(Unavailable::Bulkhead);
        };
        match self.breaker.try_acquire() {
            Ok(permit) => Ok(Admission { slot, permit }),
            Err(rejected) => {
                record(kind, "rejected", None);
                Err(Unavailable::BreakerOpen {
                    retry_after: rejected.retry_after,
                })
            }
        }
    }

    fn authorize(
        &self,
        admission: Admission,
        request: AuthorizeRequest,
        reply: RpcReplyPort<Result<Authorization, Unavailable>>,
    ) {
        let system = self.system.clone();
        let reference = request.reference.clone();
        let kind = CallKind::of_amount(request.amount);
        let call = async move { system.authorize(&request).await };
        let outcome = |auth: &Authorization| {
            if auth.approved {
                "approved"
            } else {
                "declined"
            }
        };
        self.guarded(kind, admission, reference, reply, call, outcome);
    }

    fn refund(
        &self,
        admission: Admission,
        request: RefundRequest,
        reply: RpcReplyPort<Result<String, Unavailable>>,
    ) {
        let system = self.system.clone();
        let reference = request.idempotency_key.clone();
        let call = async move {
            let RefundRequest {
                authorization,
                amount,
                idempotency_key,
            } = request;
            system
                .refund(&authorization, amount, &idempotency_key)
                .await
        };
        self.guarded(
            CallKind::Refund,
            admission,
            reference,
            reply,
            call,
            |_| "refunded",
        );
    }

    /// Runs an admitted call through the breaker (its timeout inside), in a task of its own,
    /// counts it by `outcome` of its answer, and replies.
    fn guarded<T: Send + 'static>(
        &self,
        kind: CallKind,
        admission: Admission,
        reference: String,
        reply: RpcReplyPort<Result<T, Unavailable>>,
        call: impl Future<Output = Result<T, ProviderError>> + Send + 'static,
        outcome: fn(&T) -> &'static str,
    ) {
        let breaker = self.breaker.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let Admission { slot, permit } = admission;
            let result = breaker.call(permit, ProviderError::is_failure, call).await;
            drop(slot);
            let answer = match result {
                Ok(answer) => {
                    record(kind, outcome(&answer), Some(started));
                    Ok(answer)
                }
                Err(CallError::Rejected(r)) => {
                    record(kind, "rejected", None);
                    Err(Unavailable::BreakerOpen {
                        retry_after: r.retry_after,
                    })
                }
                Err(CallError::Timeout) => {
                    record(kind, "timeout", Some(started));
                    Err(Unavailable::Failed(ProviderError::Timeout))
                }
                Err(CallError::Inner(e)) => {
                    record(kind, "failed", Some(started));
                    tracing::warn!(error = %e, %reference, "payment call failed");
                    Err(Unavailable::Failed(e))
                }
            };
            let _ = reply.send(answer);
        });
    }
}

/// Counts a payment call (and times it if it went out); `rejected` ones never left.
pub(super) fn record(kind: CallKind, outcome: &'static str, started: Option<Instant>) {
    let kind = kind.as_str();
    metrics::counter!(names::PAYMENT_CALLS, "call" => kind, "outcome" => outcome).increment(1);
    if let Some(started) = started {
        metrics::histogram!(names::PAYMENT_DURATION, "call" => kind, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
    }
}
