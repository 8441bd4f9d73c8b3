//! The vocabulary between the HTTP layer and the tree: commands, their replies and the one
//! error type every call can end in. Domain failures (declined, not found, stale version)
//! are values here, not actor failures.

use crate::domain::{
    AccountNumber, CustomerId, FieldError, Kind, PaymentId, PaymentMethod, Position,
};
use std::time::Duration;

/// Register a new payment method (`POST /paymethods`).
#[derive(Debug)]
pub struct Registration {
    pub customer_id: CustomerId,
    pub number: AccountNumber,
    pub request_id: Option<u64>,
    /// Set by the handle when the request carried an `Idempotency-Key`: what to store with
    /// the outcome, and the key's in-flight claim, which the aggregate holds until the
    /// outcome is durable (so a caller that gave up cannot free the key early).
    pub idempotency: Option<(
        crate::domain::idempotency::IdempotencyClaim,
        super::idempotency::Claim,
    )>,
}

/// A number as the client sent it, not yet validated (its kind may depend on the stored
/// state). Its `Debug` never shows it.
#[derive(Clone)]
pub struct RawNumber(pub String);

impl std::fmt::Debug for RawNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawNumber(<redacted>)")
    }
}

/// Change a payment method (`PATCH /paymethods/{id}`).
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub kind: Option<Kind>,
    pub number: Option<RawNumber>,
    /// The version from `If-Match`, if the client sent one.
    pub if_match: Option<u64>,
}

/// Remove a payment method (`DELETE /paymethods/{id}`).
#[derive(Debug, Clone)]
pub struct RemoveRequest {
    pub if_match: Option<u64>,
}

/// A command that was carried out: the aggregate's state afterwards and the position of the
/// last event recorded for it (for `Paytree-Position`).
#[derive(Debug, Clone)]
pub struct Done {
    pub method: PaymentMethod,
    pub position: Position,
}

/// Why a command or query did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("no such payment method")]
    NotFound,
    #[error("the payment method is at version {current}")]
    VersionMismatch { current: u64 },
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("the payment system declined the verification")]
    Declined {
        payment_id: PaymentId,
        code: Option<String>,
    },
    #[error("the payment system is unavailable")]
    PaymentUnavailable { retry_after: Duration },
    #[error("the payment method was changed concurrently")]
    Conflict,
    #[error("a request with this idempotency key is still running")]
    IdempotencyInFlight,
    #[error("this idempotency key was used for a different request")]
    IdempotencyMismatch,
    #[error("no event has been recorded at position {}", .head.0 + 1)]
    PositionAhead { head: Position },
    #[error("the view has not reached the position in time")]
    ViewBehind,
    #[error("the payment method's actor failed repeatedly and is quarantined")]
    Quarantined,
    #[error("too many commands are queued for this payment method")]
    Busy,
    #[error("the service is busy or shutting down")]
    Unavailable,
    #[error("internal error")]
    Internal,
}
