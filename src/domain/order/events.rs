//! What happens to an order, as the event log records it. Every event carries the order as
//! it is afterwards, so readers (messages, mypage) need nothing else.

use super::Order;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// Paid and placed.
    Placed { order: Order },
    /// The customer asked to cancel.
    CancellationRequested { order: Order },
    /// Cancelled and refunded in full (`refunded` KRW).
    Cancelled { order: Order, refunded: u64 },
    /// The seller shipped before the cancellation took effect: nothing refunded.
    CancellationRefused { order: Order },
    /// The seller shipped it.
    Shipped { order: Order },
}

impl OrderEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Placed { .. } => "OrderPlaced",
            Self::CancellationRequested { .. } => "OrderCancellationRequested",
            Self::Cancelled { .. } => "OrderCancelled",
            Self::CancellationRefused { .. } => "OrderCancellationRefused",
            Self::Shipped { .. } => "OrderShipped",
        }
    }

    pub fn order(&self) -> &Order {
        match self {
            Self::Placed { order }
            | Self::CancellationRequested { order }
            | Self::Cancelled { order, .. }
            | Self::CancellationRefused { order }
            | Self::Shipped { order } => order,
        }
    }
}
