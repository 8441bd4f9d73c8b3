//! What is stored of a key (never the key itself) and of an admin action.

use super::{KeyId, Role};
use crate::domain::{CustomerId, Timestamp};
use serde::{Deserialize, Serialize};

/// A key as stored: its keyed hash (the lookup key), who it is for and when it may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: KeyId,
    /// HMAC-SHA256 of the key under the installation's secret, in hex.
    pub hash: String,
    pub role: Role,
    /// The one customer a `customer` key is bound to; `None` for every other role.
    pub customer_id: Option<CustomerId>,
    pub name: String,
    /// `ptk_` and the key's first four characters, for people to recognise it by.
    pub prefix: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Recorded within a few seconds of a use (see `Keys`), not on every request.
    pub last_used_at: Option<Timestamp>,
}

impl KeyRecord {
    /// Whether the key is accepted at `now`: not revoked and not past its expiry.
    pub fn usable_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// An admin action, as `GET /admin/audit` shows it; `id` is assigned by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    pub at: Timestamp,
    /// The acting key; `None` for paytree itself (the bootstrap admin key).
    pub key_id: Option<KeyId>,
    pub action: String,
    /// What was acted on: a key id, a payment-method id, a message id, …
    pub target: String,
}

impl AuditEntry {
    /// `action` on `target` by key `by`, now; the store assigns the id.
    pub fn by(by: &KeyId, action: &str, target: &str) -> Self {
        Self {
            id: 0,
            at: Timestamp::now(),
            key_id: Some(by.clone()),
            action: action.to_owned(),
            target: target.to_owned(),
        }
    }
}

/// What admin actions are called in the audit log.
pub mod action {
    pub const KEY_CREATED: &str = "key.created";
    pub const KEY_REVOKED: &str = "key.revoked";
    pub const PAYMETHOD_RELEASED: &str = "paymethod.released";
    pub const ORDER_RELEASED: &str = "order.released";
    pub const SHIPMENT_RELEASED: &str = "shipment.released";
    pub const MESSAGE_REDELIVERED: &str = "message.redelivered";
    pub const PRODUCT_CHANGED: &str = "product.changed";
    pub const SHIPPING_PAUSED: &str = "shipping.paused";
    pub const SHIPPING_RESUMED: &str = "shipping.resumed";
    pub const BACKUP_TAKEN: &str = "backup.taken";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at: Option<i64>, revoked_at: Option<i64>) -> KeyRecord {
        KeyRecord {
            id: KeyId::generate(),
            hash: "h".into(),
            role: Role::Service,
            customer_id: None,
            name: "n".into(),
            prefix: "ptk_abcd".into(),
            created_at: Timestamp(0),
            expires_at: expires_at.map(Timestamp),
            revoked_at: revoked_at.map(Timestamp),
            last_used_at: None,
        }
    }

    #[test]
    fn a_key_is_usable_until_it_expires_or_is_revoked() {
        assert!(record(None, None).usable_at(Timestamp(10)));
        assert!(record(Some(11), None).usable_at(Timestamp(10)));
        assert!(!record(Some(10), None).usable_at(Timestamp(10)));
        assert!(!record(None, Some(5)).usable_at(Timestamp(10)));
    }
}
