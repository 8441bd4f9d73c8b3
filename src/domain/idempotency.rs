//! Idempotency records: under a customer's `Idempotency-Key`, the fingerprint of the first
//! request and its final outcome, so a retry gets the same answer without a second payment.

use super::{OrderId, PaymentId, PaymentMethod, Position, Timestamp};
use serde::{Deserialize, Serialize};

/// What a key was used for, and how that ended. Only final outcomes are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Keyed fingerprint of the request (customer, kind, digits, requestId).
    pub fingerprint: String,
    pub outcome: IdempotentOutcome,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdempotentOutcome {
    /// 201, with the method as it was returned then and the position of its event.
    Registered {
        method: PaymentMethod,
        position: Position,
    },
    /// 402, with the declined payment's record (a registration's or an order's).
    Declined { payment_id: PaymentId },
    /// 201, the order placed (answered as it is now) and the position of `OrderPlaced`.
    OrderPlaced {
        order_id: OrderId,
        position: Position,
    },
}

/// A registration's claim on a key: stored with the outcome in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: super::IdempotencyKey,
    pub fingerprint: String,
}
