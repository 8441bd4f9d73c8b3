//! The order aggregate: one implementation of [`Aggregate`] (seed 004). Placing prices the
//! lines from the catalogue, checks the payment method, charges its token through the payment
//! line under a durable intent, and stores the order, the charge and `OrderPlaced` in one
//! commit. Afterwards the customer may ask to cancel (`cancelling`), and the saga — never
//! another aggregate — tells it to refund (`cancelled`) or that the seller shipped
//! (`shipped`). Every command is idempotent against the stored state.

pub mod handle;
mod place;

pub use handle::OrderRead;

use super::idempotency::Claim;
use super::kernel::{
    Aggregate, AggregateError, AggregateId, Command as KernelCommand, CommandResult, Handled,
    LoadError, Refusal, WriteError, Writer, read_state, unread,
};
use super::payment::RefundRequest;
use super::payment::call::PaymentLine;
use crate::domain::idempotency::IdempotencyClaim;
use crate::domain::order::{
    Address, CancelOutcome, CancelRequest, Cancellation, LineRequest, OrderChange, OrderStatus,
    StoredOrder,
};
use crate::domain::{
    CustomerId, FieldError, Order, OrderId, Payment, PaymentId, PaymethodId, Position, Timestamp,
};
use crate::store::{self, Store};
use crate::telemetry::names;
use ractor::RpcReplyPort;
use std::time::Duration;

impl AggregateId for OrderId {
    fn from_sequence(value: u64) -> Self {
        Self(value)
    }
}

/// What every order aggregate shares.
#[derive(Debug)]
pub struct OrderServices {
    pub store: Store,
    pub writer: Writer,
    pub payment: PaymentLine,
}

/// An order's domain failures: answers, not faults.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("no such order")]
    NotFound,
    #[error("the order is not valid")]
    Invalid(Vec<FieldError>),
    #[error("the payment system declined the charge")]
    Declined {
        payment_id: PaymentId,
        code: Option<String>,
    },
    #[error("the payment system is unavailable")]
    PaymentUnavailable { retry_after: Duration },
    #[error("the order was changed concurrently")]
    Conflict,
    #[error("the order has shipped")]
    AlreadyShipped,
    #[error("the refund failed: {0}")]
    RefundFailed(String),
}

pub type OrderResult<T> = CommandResult<OrderAggregate, T>;
type Reply<T> = RpcReplyPort<OrderResult<T>>;

/// A new order as the customer asked for it (validated field by field at the edge).
#[derive(Debug)]
pub struct Placement {
    pub customer_id: CustomerId,
    pub paymethod_id: PaymethodId,
    pub lines: Vec<LineRequest>,
    pub address: Address,
    /// As for a registration: what to store with the outcome, and the in-flight claim.
    pub idempotency: Option<(IdempotencyClaim, Claim)>,
}

/// An order after a command, and the position of its last event (for `Paytree-Position`).
#[derive(Debug, Clone)]
pub struct OrderDone {
    pub order: Order,
    pub position: Position,
}

/// The answer to a cancellation request: the order, and whether this request started the
/// cancellation (202) or found it asked already (200).
#[derive(Debug, Clone)]
pub struct Cancelled {
    pub done: OrderDone,
    pub started: bool,
}

pub enum OrderCommand {
    Place(Box<Placement>, Reply<OrderDone>),
    /// The customer asks to cancel; `owner` as for payment methods.
    Cancel(Option<CustomerId>, Reply<Cancelled>),
    /// The saga: the shipment was cancelled, refund in full.
    Refund(Reply<()>),
    /// The saga: the shipment was shipped.
    MarkShipped(Reply<()>),
}

impl KernelCommand for OrderCommand {
    fn caller_gone(&self) -> bool {
        match self {
            Self::Place(_, r) => r.is_closed(),
            Self::Cancel(_, r) => r.is_closed(),
            Self::Refund(r) | Self::MarkShipped(r) => r.is_closed(),
        }
    }

    fn refuse(self, refusal: Refusal) {
        let refused = AggregateError::Refused(refusal);
        match self {
            Self::Place(_, r) => send(r, Err(refused)),
            Self::Cancel(_, r) => send(r, Err(refused)),
            Self::Refund(r) | Self::MarkShipped(r) => send(r, Err(refused)),
        }
    }
}

fn send<T>(reply: Reply<T>, result: OrderResult<T>) {
    let _ = reply.send(result);
}

/// The order aggregate's state as its host keeps it.
pub struct OrderAggregate {
    id: OrderId,
    current: Option<StoredOrder>,
    unsure: bool,
}

impl Aggregate for OrderAggregate {
    const KIND: &'static str = "order";
    type Id = OrderId;
    type Command = OrderCommand;
    type Error = OrderError;
    type Services = OrderServices;

    fn fresh(id: OrderId) -> Self {
        Self {
            id,
            current: None,
            unsure: false,
        }
    }

    async fn load(id: OrderId, services: &OrderServices) -> Result<Self, LoadError> {
        let current = read_state(services.store.order(id)).await?;
        Ok(Self {
            id,
            current,
            unsure: false,
        })
    }

    async fn handle(&mut self, command: OrderCommand, services: &OrderServices) -> Handled {
        self.unsure = false;
        match command {
            OrderCommand::Place(p, reply) => send(reply, self.place(*p, services).await),
            OrderCommand::Cancel(owner, reply) => {
                let cancelled = crate::retry_conflicts!(
                    Self::KIND,
                    AggregateError::Domain(OrderError::Conflict),
                    self.reread(services).await,
                    self.cancel(owner.as_ref(), services).await
                );
                send(reply, cancelled)
            }
            OrderCommand::Refund(reply) => send(reply, self.refund(services).await),
            OrderCommand::MarkShipped(reply) => send(reply, self.mark_shipped(services).await),
        }
        Handled::unless_unsure(self.unsure)
    }

    fn is_empty(&self) -> bool {
        self.current.is_none()
    }
}

impl From<OrderError> for AggregateError<OrderError> {
    fn from(e: OrderError) -> Self {
        Self::Domain(e)
    }
}

impl OrderAggregate {
    /// Reads the state again (another replica wrote it first).
    async fn reread(&mut self, svc: &OrderServices) -> Result<(), Refusal> {
        self.current = read_state(svc.store.order(self.id)).await.map_err(unread)?;
        Ok(())
    }

    /// The current state, if `owner` (when given) may act on it; another customer's order is
    /// not found, exactly as a missing one.
    fn owned_by(&self, owner: Option<&CustomerId>) -> OrderResult<StoredOrder> {
        match &self.current {
            Some(current) if owner.is_none_or(|o| *o == current.order.customer_id) => {
                Ok(current.clone())
            }
            _ => Err(OrderError::NotFound.into()),
        }
    }

    fn done(&self) -> OrderResult<OrderDone> {
        let current = self.owned_by(None)?;
        Ok(OrderDone {
            order: current.order,
            position: current.last_position,
        })
    }

    /// `placed` → `cancelling` with `OrderCancellationRequested`; `cancelling` or
    /// `cancelled` answered as they are; `shipped` refused.
    async fn cancel(
        &mut self,
        owner: Option<&CustomerId>,
        svc: &OrderServices,
    ) -> OrderResult<Cancelled> {
        let current = self.owned_by(owner)?;
        match current.order.cancel_request() {
            CancelRequest::AlreadyAsked => Ok(Cancelled {
                done: self.done()?,
                started: false,
            }),
            CancelRequest::Shipped => Err(OrderError::AlreadyShipped.into()),
            CancelRequest::Start => {
                let now = Timestamp::now();
                let order = current.order.next(now, |o| {
                    o.status = OrderStatus::Cancelling;
                    o.cancellation = Some(Cancellation {
                        requested_at: now,
                        refund_attempts: 0,
                        last_error: None,
                        outcome: None,
                    });
                });
                self.save(
                    current,
                    order,
                    Some(OrderChange::CancellationRequested),
                    None,
                    svc,
                )
                .await?;
                Ok(Cancelled {
                    done: self.done()?,
                    started: true,
                })
            }
        }
    }

    /// Refunds a `cancelling` order in full, under a key stable per order (so a retried
    /// refund is the same refund), then `cancelled` with `OrderCancelled`. Any other state
    /// needs nothing. A failed refund is recorded on the order and answered as an error, for
    /// the saga to retry.
    async fn refund(&mut self, svc: &OrderServices) -> OrderResult<()> {
        let current = self.owned_by(None)?;
        if current.order.status != OrderStatus::Cancelling {
            return Ok(());
        }
        let order = &current.order;
        let request = RefundRequest {
            authorization: current.authorization.clone(),
            amount: order.total,
            idempotency_key: order.refund_key(),
        };
        let refund_id = match svc.payment.refund(request).await {
            Ok(id) => id,
            Err(why) => {
                count_refund("failed");
                let why = why.to_string();
                // Bookkeeping, not a change of state: the version stays.
                let mut next = current.order.clone();
                if let Some(c) = &mut next.cancellation {
                    c.refund_attempts += 1;
                    c.last_error = Some(why.clone());
                }
                self.save(current, next, None, None, svc).await?;
                return Err(OrderError::RefundFailed(why).into());
            }
        };
        count_refund("refunded");
        let refund = Payment::refund(
            order.customer_id.clone(),
            Some(order.paymethod_id),
            Some(order.id),
            order.total,
            refund_id,
        );
        let refunded = order.total;
        let next = current.order.next(Timestamp::now(), |o| {
            o.status = OrderStatus::Cancelled;
            if let Some(c) = &mut o.cancellation {
                c.outcome = Some(CancelOutcome::Refunded);
                c.last_error = None;
            }
        });
        let requested = cancel_requested(&current.order);
        self.save(
            current,
            next,
            Some(OrderChange::Cancelled { refunded }),
            Some(refund),
            svc,
        )
        .await?;
        count_order("cancelled");
        record_cancel_duration(requested);
        Ok(())
    }

    /// The seller shipped: `placed` → `shipped` (`OrderShipped`); `cancelling` → `shipped`
    /// with its cancellation refused (`OrderCancellationRefused`); otherwise nothing.
    async fn mark_shipped(&mut self, svc: &OrderServices) -> OrderResult<()> {
        let current = self.owned_by(None)?;
        let change = match current.order.status {
            OrderStatus::Placed => OrderChange::Shipped,
            OrderStatus::Cancelling => OrderChange::CancellationRefused,
            OrderStatus::Shipped | OrderStatus::Cancelled => return Ok(()),
        };
        let next = current.order.next(Timestamp::now(), |o| {
            o.status = OrderStatus::Shipped;
            if let Some(c) = &mut o.cancellation {
                c.outcome = Some(CancelOutcome::RefusedShipped);
            }
        });
        let requested = cancel_requested(&current.order);
        self.save(current, next, Some(change), None, svc).await?;
        count_order(match change {
            OrderChange::Shipped => "shipped",
            _ => "cancellation_refused",
        });
        record_cancel_duration(requested);
        Ok(())
    }

    /// Stores `next` (decided on `current`) with the event `change` names and a refund's
    /// record; keeps it once durable.
    async fn save(
        &mut self,
        current: StoredOrder,
        next: Order,
        change: Option<OrderChange>,
        refund: Option<Payment>,
        svc: &OrderServices,
    ) -> OrderResult<()> {
        let save = store::SaveOrder {
            order: StoredOrder {
                order: next,
                ..current.clone()
            },
            expected_version: current.order.version,
            change,
            refund,
        };
        let mut stored = save.order.clone();
        match svc.writer.write(save).await {
            Ok(saved) => {
                if let Some(id) = saved.refund_payment_id {
                    stored.order.refund_payment_id = Some(id);
                }
                if let Some(position) = saved.position {
                    stored.last_position = position;
                }
                self.current = Some(stored);
                Ok(())
            }
            Err(WriteError::Rejected(_)) => {
                // Another incarnation wrote first: the stored state is ours again.
                self.unsure = true;
                Err(OrderError::Conflict.into())
            }
            Err(e) => Err(self.unwritten(e)),
        }
    }

    fn unwritten(&mut self, e: WriteError) -> AggregateError<OrderError> {
        self.unsure |= e.leaves_unsure();
        e.refusal().into()
    }
}

/// Counts an order by what became of it.
pub(crate) fn count_order(outcome: &'static str) {
    metrics::counter!(names::ORDERS, "outcome" => outcome).increment(1);
}

fn cancel_requested(order: &Order) -> Option<Timestamp> {
    order.cancellation.as_ref().map(|c| c.requested_at)
}

/// Times a cancellation from its request to its end.
fn record_cancel_duration(requested: Option<Timestamp>) {
    if let Some(requested) = requested {
        let ms = Timestamp::now().0.saturating_sub(requested.0).max(0);
        metrics::histogram!(names::CANCEL_DURATION).record(ms as f64 / 1000.0);
    }
}

fn count_refund(outcome: &'static str) {
    metrics::counter!(names::ORDER_REFUNDS, "outcome" => outcome).increment(1);
}
