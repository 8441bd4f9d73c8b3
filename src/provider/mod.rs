//! The payment system paytree talks to: the request and answer types, the HTTP client for a
//! real (or separately running) payment system, and the simulated one that runs embedded or
//! alone (`paytree provider`). This module is the only place a full number is sent anywhere.

mod client;
pub mod server;
pub mod simulated;
pub mod wire;

pub use client::HttpPaymentSystem;
pub use simulated::{Faults, Simulator};

use crate::domain::{AccountNumber, Kind};
use std::sync::Arc;

/// What to authorize: a new number (which the payment system will tokenize) or a token.
#[derive(Debug, Clone)]
pub enum Source {
    Number(AccountNumber),
    Token { kind: Kind, token: String },
}

/// One authorization request. `reference` names it at the payment system and
/// `idempotency_key` makes a retry return the same authorization.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub reference: String,
    pub idempotency_key: String,
    pub source: Source,
    pub amount: u64,
    pub currency: String,
}

/// The payment system's answer. A decline is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub id: String,
    pub approved: bool,
    pub decline_code: Option<String>,
    /// For an approved number: the token that stands for it from now on.
    pub token: Option<String>,
}

/// Why no answer came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("payment system did not answer in time")]
    Timeout,
    #[error("payment system is unavailable (status {0})")]
    Unavailable(u16),
    #[error("payment system cannot be reached: {0}")]
    Connect(String),
    #[error("payment system gave an unexpected answer: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Whether this counts against the circuit breaker: timeouts, 5xx and refused
    /// connections do; an answer we could not use (a 4xx, a bad body) is our problem, not
    /// the payment system's health.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::Protocol(_))
    }
}

/// The configured payment system.
#[derive(Clone, Debug)]
pub enum PaymentSystem {
    /// The simulated payment system, in-process.
    Embedded(Arc<Simulator>),
    /// A payment system at a base URL.
    Http(HttpPaymentSystem),
}

impl PaymentSystem {
    pub async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<Authorization, ProviderError> {
        match self {
            Self::Embedded(sim) => {
                let body = wire::AuthorizationBody::from_request(request);
                sim.authorize(Some(&request.idempotency_key), body)
                    .await
                    .map(Authorization::from)
                    .map_err(ProviderError::from)
            }
            Self::Http(client) => client.authorize(request).await,
        }
    }

    /// The authorization made for `reference`, if the payment system has one.
    pub async fn find(&self, reference: &str) -> Result<Option<Authorization>, ProviderError> {
        match self {
            Self::Embedded(sim) => Ok(sim.find(reference).map(Authorization::from)),
            Self::Http(client) => client.find(reference).await,
        }
    }

    /// Refunds `amount` of an approved authorization and returns the refund's id.
    /// Idempotent by `idempotency_key`: a repeat returns the same refund.
    pub async fn refund(
        &self,
        authorization: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        match self {
            Self::Embedded(sim) => sim
                .refund(Some(idempotency_key), authorization, amount)
                .await
                .map(|r| r.id)
                .map_err(ProviderError::from),
            Self::Http(client) => client.refund(authorization, amount, idempotency_key).await,
        }
    }
}

impl From<wire::AuthorizationReply> for Authorization {
    fn from(r: wire::AuthorizationReply) -> Self {
        Self {
            approved: r.status == wire::AuthStatus::Approved,
            id: r.id,
            decline_code: r.decline_code,
            token: r.token,
        }
    }
}

impl From<simulated::SimError> for ProviderError {
    fn from(e: simulated::SimError) -> Self {
        match e {
            simulated::SimError::Down | simulated::SimError::Fault => Self::Unavailable(503),
            other => Self::Protocol(other.to_string()),
        }
    }
}
