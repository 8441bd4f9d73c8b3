//! Payment intents. Before paytree asks the payment system for anything it durably records an
//! intent under the reference it will use; the command's outcome closes the intent in the
//! same transaction. An intent still open after a crash or a lost answer is reconciled with
//! the payment system: an approval nobody claimed is refunded.
//!
//! An intent is named by a stable `base` and a random `nonce`; the payment system knows the
//! call as `<base>.<nonce>`. A retry of the same request (the same customer, `Idempotency-Key`
//! and request) has the same base, so while the intent is open it re-opens it with its nonce
//! and the payment system answers with the authorization it already made. An intent is
//! deleted when it closes or is given up, so any later attempt under the base draws a new
//! nonce, a new reference, and can never claim an authorization that was refunded.

use super::{CustomerId, OrderId, PaymethodId, Timestamp};
use serde::{Deserialize, Serialize};

/// An open intent: a payment call whose outcome is not stored yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub base: String,
    pub nonce: String,
    pub customer_id: CustomerId,
    /// The method a change or a charge is for; `None` for a registration.
    pub paymethod_id: Option<PaymethodId>,
    /// What the call asks for: 0 for a verification, an order's total for a charge (what an
    /// approval nobody claimed is refunded for).
    pub amount: u64,
    /// The order a charge is for.
    pub order_id: Option<OrderId>,
    /// When it was opened, re-opened by a retry, or last found without an authorization.
    pub opened_at: Timestamp,
    /// How many times the reconciler found no authorization for it.
    pub checks: u8,
}

impl Intent {
    pub fn handle(&self) -> IntentRef {
        IntentRef {
            base: self.base.clone(),
            nonce: self.nonce.clone(),
        }
    }
}

/// Which intent (and which attempt under its base) a command closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRef {
    pub base: String,
    pub nonce: String,
}

impl IntentRef {
    /// The reference (and idempotency key) the payment system knows this attempt by.
    pub fn reference(&self) -> String {
        format!("{}.{}", self.base, self.nonce)
    }
}

/// The reconciler's verdict on an overdue intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing was charged (declined, or still nothing after the last check): close it.
    Close,
    /// No authorization yet: look again one reconciliation delay later, in case the payment
    /// system records it late.
    Recheck,
    /// An approval nobody claimed: close it and owe its refund.
    Abandon(RefundOwed),
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
    fn each_attempt_under_a_base_has_its_own_reference() {
        let first = IntentRef {
            base: "reg_ab12".into(),
            nonce: "01".into(),
        };
        let next = IntentRef {
            nonce: "02".into(),
            ..first.clone()
        };
        assert_eq!(first.reference(), "reg_ab12.01");
        assert_ne!(first.reference(), next.reference());
    }
}
