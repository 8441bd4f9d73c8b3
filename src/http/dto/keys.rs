//! API keys and the audit log, as `/admin/keys` and `/admin/audit` show them.

use crate::auth::{AuditEntry, KeyRecord, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /admin/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyBody {
    /// `admin`, `service`, `seller`, `customer` or `metrics`.
    #[schema(value_type = RoleView, example = "customer")]
    pub role: String,
    /// Required for a `customer` key (the one customer it may act for); refused for others.
    #[schema(
        example = "alice",
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$"
    )]
    #[serde(default)]
    pub customer_id: Option<String>,
    /// What the key is for, for people: up to 100 characters (default empty).
    #[serde(default)]
    #[schema(example = "alice's phone", max_length = 100)]
    pub name: Option<String>,
    /// RFC 3339, in the future; past it the key is refused. `null`: never expires.
    #[serde(default)]
    #[schema(example = "2027-01-01T00:00:00Z", format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleView {
    Admin,
    Service,
    Seller,
    Customer,
    Metrics,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => Self::Admin,
            Role::Service => Self::Service,
            Role::Seller => Self::Seller,
            Role::Customer => Self::Customer,
            Role::Metrics => Self::Metrics,
        }
    }
}

/// A key as listed: never the key itself, except in the answer that creates it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Not secret: names the key in lists, the audit log and `DELETE /admin/keys/{id}`.
    #[schema(example = "key_5f0c9e2a7b1d44e6a1c3b2d9")]
    pub id: String,
    /// The key, only in the answer of `POST /admin/keys`: store it now, it is not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ptk_AbCd…")]
    pub key: Option<String>,
    pub role: RoleView,
    pub customer_id: Option<String>,
    pub name: String,
    /// `ptk_` and the key's first four characters.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Recorded within about 10 seconds of a use.
    pub last_used_at: Option<String>,
}

impl From<&KeyRecord> for KeyView {
    fn from(r: &KeyRecord) -> Self {
        Self {
            id: r.id.to_string(),
            key: None,
            role: r.role.into(),
            customer_id: r.customer_id.as_ref().map(|c| c.to_string()),
            name: r.name.clone(),
            prefix: r.prefix.clone(),
            created_at: r.created_at.to_rfc3339(),
            expires_at: r.expires_at.map(|t| t.to_rfc3339()),
            revoked_at: r.revoked_at.map(|t| t.to_rfc3339()),
            last_used_at: r.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A page of keys, ordered by id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPage {
    pub items: Vec<KeyView>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// `GET /admin/keys`: paging by key id.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListKeysQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only keys whose id sorts after this one.
    #[param(pattern = "^key_[0-9a-f]{24}$")]
    pub after: Option<String>,
}

/// One admin action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub id: u64,
    pub at: String,
    /// The acting key; `null` for paytree itself (the bootstrap admin key).
    pub key_id: Option<String>,
    /// `key.created`, `key.revoked`, `paymethod.released`, `message.redelivered`.
    #[schema(example = "key.created")]
    pub action: String,
    /// What was acted on: a key id, a payment-method id, a message id.
    pub target: String,
}

impl From<&AuditEntry> for AuditView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at.to_rfc3339(),
            key_id: e.key_id.as_ref().map(|k| k.to_string()),
            action: e.action.clone(),
            target: e.target.clone(),
        }
    }
}

/// A page of the audit log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_after: Option<u64>,
}

/// `GET /admin/audit`: paging by id.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub after: Option<u64>,
}
