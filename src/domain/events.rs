//! Events: what happened to an aggregate, in the order the global log recorded it.
//! Events carry masked attributes only; they are read by the notifier and the projector.

use super::{Brand, CustomerId, Kind, PaymethodId, Position, Timestamp};
use serde::{Deserialize, Serialize};

/// The attributes of a payment method that may be shown: kind, brand and last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedAttrs {
    pub kind: Kind,
    pub brand: Option<Brand>,
    pub last4: String,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    PaymentMethodRegistered {
        attrs: MaskedAttrs,
    },
    PaymentMethodChanged {
        previous: MaskedAttrs,
        attrs: MaskedAttrs,
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
