//! Payment intents. Before paytree asks the payment system for anything it durably records an
//! intent under the reference it will use; the command's outcome closes the intent in the
//! same transaction. An intent still open after a crash or a lost answer is reconciled with
//! the payment system: an approval nobody claimed is refunded.
//!
//! An intent is named by a stable `base` and a `generation`. A retry of the same request (the
//! same customer, `Idempotency-Key` and request) uses the same base, so it reuses the open
//! intent and its reference, and the payment system answers it with the authorization it
//! already made. Once an intent is abandoned (its approval refunded), the next attempt under
//! that base opens the next generation, a new reference, so it can never claim a refunded
//! authorization.

use super::{CustomerId, PaymethodId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub base: String,
    pub generation: u32,
    pub customer_id: CustomerId,
    /// The method a change is for; `None` for a registration.
    pub paymethod_id: Option<PaymethodId>,
    pub state: IntentState,
    /// When the current generation was opened (or re-opened by a retry).
    pub opened_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentState {
    /// Waiting for its command's outcome.
    Open,
    /// Given up by the reconciler; the next attempt under the base takes a new generation.
    Abandoned,
}

impl Intent {
    pub fn handle(&self) -> IntentRef {
        IntentRef {
            base: self.base.clone(),
            generation: self.generation,
        }
    }
}

/// Which intent (and which generation of it) a command closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRef {
    pub base: String,
    pub generation: u32,
}

impl IntentRef {
    /// The reference (and idempotency key) the payment system knows this attempt by.
    pub fn reference(&self) -> String {
        format!("{}.{}", self.base, self.generation)
    }
}

/// An approval that no command claimed: it must be refunded. Kept until the payment system
/// has confirmed the refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundOwed {
    pub authorization: String,
    pub reference: String,
    pub customer_id: CustomerId,
    pub paymethod_id: Option<PaymethodId>,
    pub amount: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_generation_has_its_own_reference() {
        let first = IntentRef {
            base: "reg_ab12".into(),
            generation: 0,
        };
        let next = IntentRef {
            generation: 1,
            ..first.clone()
        };
        assert_eq!(first.reference(), "reg_ab12.0");
        assert_ne!(first.reference(), next.reference());
    }
}
