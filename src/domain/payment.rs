//! Payment records: what the payment side did for a registration or change.

use super::{CustomerId, PaymentId, PaymethodId, Timestamp};
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

/// A payment record as stored. `paymethod_id` is `None` for a declined registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub paymethod_id: Option<PaymethodId>,
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
