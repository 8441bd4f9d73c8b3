//! RFC 9457 problem responses and the one mapping from the tree's errors to HTTP. A 5xx
//! never carries internals; no problem ever repeats a number the client sent. Every `type`
//! (`/problems/<slug>`) resolves: it answers its section of `docs/api.md`.

use crate::actors::CommandError;

use crate::actors::shipment::ShipmentError;
use crate::domain::FieldError;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

mod aggregates;
mod types;

pub use types::{TYPES, problem_type};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem; boxed, so that results carrying one stay small.
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemBody>);

/// The body of an RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Problem)]
#[serde(rename_all = "camelCase")]
pub struct ProblemBody {
    /// `/problems/<slug>`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation-failed")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields that failed validation (422 `validation-failed` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// The declined payment's record (402 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<u64>,
    /// The current version (412 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    #[serde(skip)]
    retry_after: Option<u64>,
    /// Answer with `WWW-Authenticate: Bearer` (401 only).
    #[serde(skip)]
    bearer_challenge: bool,
}

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        debug_assert!(
            TYPES.contains(&slug),
            "problem type {slug} is not documented"
        );
        Self(Box::new(ProblemBody {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            payment_id: None,
            current_version: None,
            retry_after: None,
            bearer_challenge: false,
        }))
    }

    pub fn status(&self) -> u16 {
        self.0.status
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "There is nothing at this address.",
        )
    }

    /// No key, or one that is malformed, unknown, revoked or expired: one answer for all,
    /// so a caller cannot tell which.
    pub fn unauthorized() -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "Send a valid API key as 'Authorization: Bearer <key>'.",
        );
        p.0.bearer_challenge = true;
        p
    }

    /// The key's role may not use this route, or a customer key named another customer.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "This key may not do that.",
        )
    }

    /// Too many requests from this key, or failed authentications from this address.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Rate limited",
            "Too many requests; retry after Retry-After seconds.",
        )
        .retry_after(retry_after)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
            "Validation failed",
            "One or more fields are invalid.",
        );
        p.0.errors = errors
            .into_iter()
            .map(|e| ProblemField {
                field: e.field.into_owned(),
                message: e.message,
            })
            .collect();
        p
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds.max(1));
        self
    }

    /// The problem for an error status produced outside the handlers (unknown route, wrong
    /// method, a body too large): the status is kept, the body replaced.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "method-not-allowed",
                "Method not allowed",
                "This address does not accept that method; see the Allow header.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                "payload-too-large",
                "Payload too large",
                "Request bodies may be at most 64 KiB.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported-media-type",
                "Unsupported media type",
                "Request bodies must be application/json.",
            ),
            s if s.is_server_error() => Self::internal(),
            s => Self::invalid_request(format!("The request was refused ({}).", s.as_u16())),
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "Something went wrong on our side; nothing of this request was stored unless it said so.",
        )
    }
}

impl From<crate::maintenance::BackupFailed> for Problem {
    fn from(e: crate::maintenance::BackupFailed) -> Self {
        use crate::maintenance::BackupFailed;
        match e {
            BackupFailed::NoRoom { needed, free } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient-storage",
                "Insufficient storage",
                format!(
                    "A backup is copied into the data directory first and may need as much \
                     space as the store ({needed} bytes); its file system has {free} bytes \
                     free. Free some space (`paytree compact` while paytree is stopped may \
                     shrink the store), then try again."
                ),
            ),
            BackupFailed::NotEmbedded => Self::new(
                StatusCode::NOT_IMPLEMENTED,
                "backup-elsewhere",
                "Back up PostgreSQL instead",
                "paytree keeps its records in PostgreSQL here: there is no store file to copy. \
                 Back the database up with PostgreSQL's tools (pg_dump, or base backups with \
                 WAL archiving).",
            ),
            other => {
                tracing::error!(error = %other, "backup failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let problem = *self.0;
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if problem.bearer_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = problem.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<CommandError> for Problem {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound => Self::not_found(),
            CommandError::Paymethod(e) => e.into(),
            CommandError::Order(e) => e.into(),
            CommandError::Shipment(e) => match e {
                ShipmentError::NotFound => Self::not_found(),
                ShipmentError::Cancelled => Self::new(
                    StatusCode::CONFLICT,
                    "shipment-cancelled",
                    "Shipment cancelled",
                    "The order was cancelled, so this shipment can no longer ship.",
                ),
                ShipmentError::Conflict => Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Concurrent change",
                    "The shipment changed while this request ran; read it again and retry.",
                ),
            },
            CommandError::IdempotencyInFlight => Self::new(
                StatusCode::CONFLICT,
                "idempotency-in-flight",
                "Request in flight",
                "A request with this Idempotency-Key is still running; retry when it has finished.",
            ),
            CommandError::IdempotencyMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-mismatch",
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request.",
            ),
            CommandError::PositionAhead { head } => Self::invalid_request(format!(
                "minPosition is beyond the last recorded event ({}).",
                head.0
            )),
            CommandError::ViewBehind => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "view-behind",
                "View not caught up",
                "The view did not reach minPosition within 2 s. Try again shortly.",
            )
            .retry_after(1),
            CommandError::Quarantined => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "aggregate-quarantined",
                "Quarantined",
                "The actor of this payment method, order or shipment failed repeatedly and is quarantined; nothing was stored. Operators can release it with POST /admin/{paymethods|orders|shipments}/{id}/release.",
            )
            .retry_after(60),
            CommandError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "aggregate-busy",
                "Busy",
                "Too many commands are queued for this payment method, order or shipment; nothing was stored. Try again shortly.",
            )
            .retry_after(1),
            CommandError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "paytree is busy, starting or shutting down. Try again shortly.",
            )
            .retry_after(1),
            CommandError::Internal => Self::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::paymethod::PaymethodError;
    use std::time::Duration;

    fn retry_after(e: CommandError) -> String {
        let response = Problem::from(e).into_response();
        response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn payment_unavailable_rounds_the_remaining_time_up_to_whole_seconds() {
        let unavailable = |ms| {
            CommandError::Paymethod(PaymethodError::PaymentUnavailable {
                retry_after: Duration::from_millis(ms),
            })
        };
        assert_eq!(retry_after(unavailable(29_400)), "30");
        assert_eq!(retry_after(unavailable(1_001)), "2");
        assert_eq!(retry_after(unavailable(2_000)), "2");
        assert_eq!(retry_after(unavailable(300)), "1");
        assert_eq!(retry_after(unavailable(0)), "1");
    }
}
