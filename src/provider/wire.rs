//! The payment system's JSON shapes (API.md, "The payment system").

use super::{AuthorizeRequest, Source};
use crate::domain::Kind;
use serde::{Deserialize, Serialize};

/// `POST /v1/authorizations`. Its `Debug` leaves the number out.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationBody {
    pub reference: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub amount: u64,
    pub currency: String,
}

impl AuthorizationBody {
    pub fn from_request(request: &AuthorizeRequest) -> Self {
        let (kind, number, token) = match &request.source {
            Source::Number(n) => (n.kind(), Some(n.expose_digits().to_owned()), None),
            Source::Token { kind, token } => (*kind, None, Some(token.clone())),
        };
        Self {
            reference: request.reference.clone(),
            kind,
            number,
            token,
            amount: request.amount,
            currency: request.currency.clone(),
        }
    }
}

impl std::fmt::Debug for AuthorizationBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationBody")
            .field("reference", &self.reference)
            .field("kind", &self.kind)
            .field("number", &self.number.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token)
            .field("amount", &self.amount)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthStatus {
    Approved,
    Declined,
}

/// The answer to `POST /v1/authorizations` and `GET /v1/authorizations?reference=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationReply {
    pub id: String,
    pub status: AuthStatus,
    pub decline_code: Option<String>,
    pub token: Option<String>,
    #[serde(default)]
    pub reference: String,
}

/// `POST /v1/refunds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundBody {
    pub authorization: String,
    pub amount: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundReply {
    pub id: String,
    pub authorization: String,
    pub amount: u64,
}

/// `GET /v1/ledger`: every authorization the simulated payment system made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub authorizations: Vec<LedgerEntry>,
    /// Every refund made, with its amount.
    #[serde(default)]
    pub refunds: Vec<RefundReply>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub id: String,
    pub reference: String,
    pub status: AuthStatus,
    pub amount: u64,
    pub refunded: bool,
    /// How much of it was refunded (0 when `refunded` is false).
    #[serde(default)]
    pub refunded_amount: u64,
}
