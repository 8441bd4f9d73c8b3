//! What happens to a payment method, as its events carry it: what may be shown and nothing
//! secret (no token, no fingerprint).

use super::PaymentMethod;
use crate::domain::{Brand, Kind};
use serde::{Deserialize, Serialize};

/// The attributes of a payment method that may be shown: kind, brand and last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedAttrs {
    pub kind: Kind,
    pub brand: Option<Brand>,
    pub last4: String,
}

/// A payment-method event's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymethodEvent {
    Registered {
        method: PaymentMethod,
    },
    Changed {
        previous: MaskedAttrs,
        method: PaymentMethod,
    },
    Removed {
        attrs: MaskedAttrs,
    },
}

impl PaymethodEvent {
    /// The event's type name, as messages and webhooks show it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "PaymentMethodRegistered",
            Self::Changed { .. } => "PaymentMethodChanged",
            Self::Removed { .. } => "PaymentMethodRemoved",
        }
    }
}
