//! The order aggregate's state and its pure rules (seed 004): an order is priced from the
//! catalogue and paid before it exists; afterwards it is shipped, or cancelled and refunded
//! (the saga), or — when the seller shipped first — its cancellation is refused.

use super::catalogue::{Product, Sku};
use super::{CustomerId, FieldError, PaymentId, PaymethodId, Position, Timestamp};
use serde::{Deserialize, Serialize};

mod address;
mod events;
pub use address::Address;
pub use events::OrderEvent;

/// An order's id: positive, assigned by the server, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The currency of every order (KRW has no minor unit).
pub const CURRENCY: &str = "KRW";
/// The most lines an order may have.
pub const MAX_LINES: usize = 50;
/// The most of one product an order line may ask for.
pub const MAX_QUANTITY: u32 = 99;
/// The highest total an order may come to: 100,000,000 KRW.
pub const MAX_TOTAL: u64 = 100_000_000;

/// One line as the customer asked for it: a product and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRequest {
    pub sku: Sku,
    pub quantity: u32,
}

/// One line of an order, priced when it was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: Sku,
    pub name: String,
    pub quantity: u32,
    pub unit_price: u64,
    pub amount: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Paid, waiting for the seller.
    Placed,
    /// The customer asked to cancel; the saga is cancelling the shipment and refunding.
    Cancelling,
    /// Refunded in full.
    Cancelled,
    Shipped,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
            Self::Shipped => "shipped",
        }
    }
}

/// How a cancellation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelOutcome {
    Refunded,
    /// The seller shipped first: nothing refunded.
    RefusedShipped,
}

impl CancelOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refunded => "refunded",
            Self::RefusedShipped => "refused-shipped",
        }
    }
}

/// A cancellation's progress, from its request on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub requested_at: Timestamp,
    /// Refund calls that failed so far (the saga retries with backoff until one succeeds).
    pub refund_attempts: u32,
    /// Why the last refund call failed.
    pub last_error: Option<String>,
    pub outcome: Option<CancelOutcome>,
}

/// An order as anyone entitled to it may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub paymethod_id: PaymethodId,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total: u64,
    pub shipping_address: Address,
    /// The approved charge's payment record.
    pub payment_id: PaymentId,
    pub refund_payment_id: Option<PaymentId>,
    pub cancellation: Option<Cancellation>,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The order aggregate's state as stored: the order, the payment system's authorization that
/// charged it (what a refund names) and where its last event is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    pub order: Order,
    pub authorization: String,
    pub last_position: Position,
}

/// Prices `lines` from the catalogue as it is now. Every sku must name an active product
/// (`product(sku)` looks it up); the total may not pass [`MAX_TOTAL`]. Errors name the
/// field as the request has it (`items[2].sku`).
pub fn price(
    lines: &[LineRequest],
    mut product: impl FnMut(&Sku) -> Option<Product>,
) -> Result<(Vec<OrderLine>, u64), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut priced = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match product(&line.sku) {
            Some(p) if p.active => priced.push(OrderLine {
                sku: line.sku.clone(),
                name: p.name,
                quantity: line.quantity,
                unit_price: p.unit_price,
                amount: p.unit_price * u64::from(line.quantity),
            }),
            Some(_) => errors.push(FieldError::new(
                field_of_line(i),
                "this product can no longer be ordered",
            )),
            None => errors.push(FieldError::new(field_of_line(i), "no such product")),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let total: u64 = priced.iter().map(|l| l.amount).sum();
    if total > MAX_TOTAL {
        return Err(vec![FieldError::new(
            "items",
            "the order's total may be at most 100,000,000 KRW",
        )]);
    }
    Ok((priced, total))
}

/// The field name of line `i`'s sku, as the request has it.
fn field_of_line(i: usize) -> String {
    format!("items[{i}].sku")
}

/// What a cancellation request means for an order in its present state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRequest {
    /// `placed`: it becomes `cancelling` (202).
    Start,
    /// Already `cancelling` or `cancelled`: answered as it is (200), nothing recorded.
    AlreadyAsked,
    /// `shipped`: 409.
    Shipped,
}

impl Order {
    pub fn cancel_request(&self) -> CancelRequest {
        match self.status {
            OrderStatus::Placed => CancelRequest::Start,
            OrderStatus::Cancelling | OrderStatus::Cancelled => CancelRequest::AlreadyAsked,
            OrderStatus::Shipped => CancelRequest::Shipped,
        }
    }

    /// The next version, changed by `change`, at `now`.
    pub fn next(&self, now: Timestamp, change: impl FnOnce(&mut Order)) -> Order {
        let mut next = self.clone();
        change(&mut next);
        next.version = self.version + 1;
        next.updated_at = now;
        next
    }

    /// The idempotency key of this order's refund at the payment system: the same for every
    /// attempt, so a retried refund is the same refund.
    pub fn refund_key(&self) -> String {
        format!("order-{}-refund", self.id)
    }
}

/// Which order event a saved change records (the store makes the event from the order as
/// saved, so the event carries the ids the store assigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderChange {
    CancellationRequested,
    Cancelled { refunded: u64 },
    CancellationRefused,
    Shipped,
}

impl OrderChange {
    pub fn event(self, order: Order) -> OrderEvent {
        match self {
            Self::CancellationRequested => OrderEvent::CancellationRequested { order },
            Self::Cancelled { refunded } => OrderEvent::Cancelled { order, refunded },
            Self::CancellationRefused => OrderEvent::CancellationRefused { order },
            Self::Shipped => OrderEvent::Shipped { order },
        }
    }
}

/// A step of the cancellation saga still to carry out for an order. Every step is
/// idempotent: carrying one out twice changes nothing the second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SagaStep {
    /// A cancellation was asked for: cancel the shipment (or learn it was shipped).
    CancelShipment,
    /// The shipment was cancelled: refund the order in full.
    Refund,
    /// The shipment was shipped: the order is shipped (refusing its cancellation if asked).
    MarkShipped,
}

impl SagaStep {
    pub fn code(self) -> u8 {
        match self {
            Self::CancelShipment => 0,
            Self::Refund => 1,
            Self::MarkShipped => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        [Self::CancelShipment, Self::Refund, Self::MarkShipped]
            .into_iter()
            .find(|s| s.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CancelShipment => "cancel_shipment",
            Self::Refund => "refund",
            Self::MarkShipped => "mark_shipped",
        }
    }
}

#[cfg(test)]
mod tests;
