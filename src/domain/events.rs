//! Events: what happened to an aggregate, in the order the global log recorded it.
//! Events carry what may be shown and nothing secret (no token, no fingerprint); the notifier
//! and the projector read them, and the mypage view is a fold of them.

use super::{Brand, CustomerId, Kind, PaymentId, PaymethodId, Position, Timestamp};
use serde::{Deserialize, Serialize};

/// The attributes of a payment method that may be shown: kind, brand and last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedAttrs {
    pub kind: Kind,
    pub brand: Option<Brand>,
    pub last4: String,
}

/// A payment method as a view shows it, after the event that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodSnapshot {
    pub id: PaymethodId,
    pub customer_id: CustomerId,
    pub kind: Kind,
    pub brand: Option<Brand>,
    pub last4: String,
    pub request_id: Option<u64>,
    pub version: u64,
    pub verification_payment_id: PaymentId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl MethodSnapshot {
    pub fn attrs(&self) -> MaskedAttrs {
        MaskedAttrs {
            kind: self.kind,
            brand: self.brand,
            last4: self.last4.clone(),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    PaymentMethodRegistered {
        method: MethodSnapshot,
    },
    PaymentMethodChanged {
        previous: MaskedAttrs,
        method: MethodSnapshot,
    },
    PaymentMethodRemoved {
        attrs: MaskedAttrs,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::PaymentMethodRegistered { .. } => "PaymentMethodRegistered",
            Self::PaymentMethodChanged { .. } => "PaymentMethodChanged",
            Self::PaymentMethodRemoved { .. } => "PaymentMethodRemoved",
        }
    }
}

/// One entry of the global event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub position: Position,
    pub paymethod_id: PaymethodId,
    pub customer_id: CustomerId,
    /// The aggregate's version after this event (a removal counts as one more change).
    pub version: u64,
    pub recorded_at: Timestamp,
    pub kind: EventKind,
}
