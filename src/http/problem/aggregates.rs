//! The aggregates' own answers as problems: a payment method's, an order's.

use super::Problem;
use crate::actors::CommandError;
use crate::actors::breaker::ceil_secs;
use crate::actors::order::OrderError;
use crate::actors::paymethod::PaymethodError;
use axum::http::StatusCode;

impl From<PaymethodError> for Problem {
    fn from(e: PaymethodError) -> Self {
        match e {
            PaymethodError::NotFound => Self::not_found(),
            PaymethodError::VersionMismatch { current } => {
                let mut p = Self::new(
                    StatusCode::PRECONDITION_FAILED,
                    "version-mismatch",
                    "Version mismatch",
                    format!("If-Match does not name the current version ({current})."),
                );
                p.0.current_version = Some(current);
                p
            }
            PaymethodError::Invalid(field) => Self::validation(vec![field]),
            PaymethodError::Declined { payment_id, .. } => {
                let mut p = Self::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "payment-declined",
                    "Payment declined",
                    "The payment system declined the verification payment; nothing was registered or changed.",
                );
                p.0.payment_id = Some(payment_id.0);
                p
            }
            PaymethodError::PaymentUnavailable { retry_after } => {
                Self::payment_unavailable(retry_after)
            }
            PaymethodError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "Concurrent change",
                "The payment method changed while this request ran; read it again and retry.",
            ),
        }
    }
}

impl From<OrderError> for Problem {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => Self::not_found(),
            OrderError::Invalid(fields) => Self::validation(fields),
            OrderError::Declined { payment_id, .. } => {
                let mut p = Self::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "payment-declined",
                    "Payment declined",
                    "The payment system declined the charge; no order was placed.",
                );
                p.0.payment_id = Some(payment_id.0);
                p
            }
            OrderError::PaymentUnavailable { retry_after } => {
                Self::payment_unavailable(retry_after)
            }
            OrderError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "Concurrent change",
                "The order changed while this request ran; read it again and retry.",
            ),
            OrderError::AlreadyShipped => Self::new(
                StatusCode::CONFLICT,
                "order-already-shipped",
                "Order already shipped",
                "The order has shipped, so it can no longer be cancelled.",
            ),
            // Only the saga sends refunds, and it retries them itself.
            OrderError::RefundFailed(_) => CommandError::Unavailable.into(),
        }
    }
}

impl Problem {
    /// 503 `payment-unavailable`, with `Retry-After` rounded up here, for every path: a
    /// client that waits exactly this long must not come back before the breaker lets calls
    /// through.
    fn payment_unavailable(retry_after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "payment-unavailable",
            "Payment system unavailable",
            "The payment system cannot take this request now; nothing was stored. Try again shortly.",
        )
        .retry_after(ceil_secs(retry_after))
    }
}
