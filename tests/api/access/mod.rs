//! Keys, roles and limits, as the contract's "Authentication and authorization" says:
//! `walk` takes every operation through every role and every bad key, `customers` two
//! customers who try each other's objects, `keys` making, listing, revoking and auditing,
//! `limits` the per-key and failed-authentication limits.

mod customers;
mod keys;
mod limits;
mod walk;

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

const ALICE: &str = "alice";
const BOB: &str = "bob";

/// A handle per role: `admin` (the bootstrap key), and new `service`, `seller`, `customer`
/// (bound to alice) and `metrics` keys.
struct Roles {
    by_role: Vec<(&'static str, TestApp)>,
}

impl Roles {
    async fn make(admin: &TestApp) -> Self {
        let mut by_role = vec![("admin", admin.clone())];
        for role in ["service", "seller", "metrics"] {
            by_role.push((role, admin.as_role(role, None).await));
        }
        by_role.push(("customer", admin.as_role("customer", Some(ALICE)).await));
        Self { by_role }
    }

    /// Handles whose keys are each wrong in one way: none, malformed, unknown, revoked and
    /// expired (the last two were good keys of the `admin` role).
    async fn bad_keys(&self, admin: &TestApp) -> Vec<(&'static str, TestApp)> {
        let revoked = admin.make_key(&json!({"role": "admin"})).await;
        let r = admin
            .client
            .delete(admin.url(&format!("/admin/keys/{}", revoked["id"].as_str().unwrap())))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let soon = time_in(Duration::from_millis(1_500));
        let expired = admin
            .make_key(&json!({"role": "admin", "expiresAt": soon}))
            .await;
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        vec![
            ("no key", admin.anonymous()),
            ("a malformed key", admin.with_key("ptk_short")),
            (
                "an unknown key",
                admin.with_key("ptk_0123456789abcdefghijABCDEFGHIJ0123456789abc"),
            ),
            (
                "a revoked key",
                admin.with_key(revoked["key"].as_str().unwrap()),
            ),
            (
                "an expired key",
                admin.with_key(expired["key"].as_str().unwrap()),
            ),
        ]
    }
}

/// RFC 3339 for `from_now` ahead.
fn time_in(from_now: Duration) -> String {
    let at = std::time::SystemTime::now() + from_now;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    paytree::domain::Timestamp(ms).to_rfc3339()
}
