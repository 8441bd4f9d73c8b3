//! Payment records: what the payment side did for a registration or change.

use super::{CustomerId, OrderId, PaymentId, PaymethodId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentPurpose {
    Verification,
    Charge,
    Refund,
}

impl PaymentPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::Charge => "charge",
            Self::Refund => "refund",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    Approved,
    Declined,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Refunded => "refunded",
        }
    }
}

/// A payment record as stored. `paymethod_id` is `None` for a declined registration;
/// `order_id` is the order a charge paid for (`None` for a declined one) or a refund repaid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub paymethod_id: Option<PaymethodId>,
    pub order_id: Option<OrderId>,
    pub customer_id: CustomerId,
    pub request_id: Option<u64>,
    pub purpose: PaymentPurpose,
    pub amount: u64,
    pub currency: String,
    pub status: PaymentStatus,
    pub provider_reference: String,
    pub decline_code: Option<String>,
    pub created_at: Timestamp,
}

/// The currency of verification payments.
pub const VERIFICATION_CURRENCY: &str = "KRW";

impl Payment {
    /// An approved verification (amount 0) that the payment system made under `reference`,
    /// made now. The store gives it its id when it is recorded.
    pub fn verification(
        customer_id: CustomerId,
        paymethod_id: Option<PaymethodId>,
        request_id: Option<u64>,
        reference: String,
    ) -> Self {
        Self {
            id: PaymentId(0),
            paymethod_id,
            order_id: None,
            customer_id,
            request_id,
            purpose: PaymentPurpose::Verification,
            amount: 0,
            currency: VERIFICATION_CURRENCY.to_owned(),
            status: PaymentStatus::Approved,
            provider_reference: reference,
            decline_code: None,
            created_at: Timestamp::now(),
        }
    }
}

impl Payment {
    /// A charge of `amount` KRW to `paymethod_id` that the payment system answered with
    /// authorization `reference` (approved unless the caller says otherwise).
    pub fn charge(
        customer_id: CustomerId,
        paymethod_id: PaymethodId,
        amount: u64,
        reference: String,
    ) -> Self {
        Self {
            purpose: PaymentPurpose::Charge,
            amount,
            paymethod_id: Some(paymethod_id),
            ..Self::verification(customer_id, None, None, reference)
        }
    }

    /// A refund of `amount` KRW that the payment system made as `reference`.
    pub fn refund(
        customer_id: CustomerId,
        paymethod_id: Option<PaymethodId>,
        order_id: Option<OrderId>,
        amount: u64,
        reference: String,
    ) -> Self {
        Self {
            purpose: PaymentPurpose::Refund,
            status: PaymentStatus::Refunded,
            amount,
            order_id,
            ..Self::verification(customer_id, paymethod_id, None, reference)
        }
    }
}
