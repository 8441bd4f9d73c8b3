//! The vocabulary between the HTTP layer and the tree: commands, their replies and the one
//! error type every call can end in. Domain failures (declined, not found, stale version)
//! are values here, not actor failures.

use super::kernel::{AggregateError, Refusal};
use super::order::OrderError;
use super::paymethod::PaymethodError;
use crate::domain::{AccountNumber, CustomerId, Kind, PaymentMethod, Position};

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
    /// For a `customer` key: the only customer whose method this may change; another's is
    /// not found.
    pub owner: Option<CustomerId>,
}

/// Remove a payment method (`DELETE /paymethods/{id}`).
#[derive(Debug, Clone)]
pub struct RemoveRequest {
    pub if_match: Option<u64>,
    /// As for [`ChangeRequest::owner`].
    pub owner: Option<CustomerId>,
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
    /// No such object (a query's answer; a command's is [`PaymethodError::NotFound`]).
    #[error("not found")]
    NotFound,
    /// The payment-method aggregate's own answer.
    #[error(transparent)]
    Paymethod(#[from] PaymethodError),
    /// The order aggregate's own answer.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The shipment aggregate's own answer.
    #[error(transparent)]
    Shipment(super::shipment::ShipmentError),
    #[error("a request with this idempotency key is still running")]
    IdempotencyInFlight,
    #[error("this idempotency key was used for a different request")]
    IdempotencyMismatch,
    #[error("no event has been recorded at position {}", .head.0 + 1)]
    PositionAhead { head: Position },
    #[error("the view has not reached the position in time")]
    ViewBehind,
    #[error("the aggregate failed repeatedly and is quarantined")]
    Quarantined,
    #[error("too many commands are queued for this aggregate")]
    Busy,
    #[error("the service is busy or shutting down")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<Refusal> for CommandError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Busy => Self::Busy,
            Refusal::Quarantined => Self::Quarantined,
            Refusal::Unavailable => Self::Unavailable,
            Refusal::Internal => Self::Internal,
        }
    }
}

impl<E> From<AggregateError<E>> for CommandError
where
    CommandError: From<E>,
{
    fn from(e: AggregateError<E>) -> Self {
        match e {
            AggregateError::Refused(refusal) => refusal.into(),
            AggregateError::Domain(e) => e.into(),
        }
    }
}
