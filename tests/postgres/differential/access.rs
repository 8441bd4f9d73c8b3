//! Keys, the audit log, the catalogue and settings.

use super::both::Both;
use super::build::*;
use crate::serial;
use paytree::auth::KeyId;
use paytree::domain::Timestamp;
use paytree::store::{
    BREAKER_OPEN_UNTIL, CreateKey, PutMeta, PutProduct, RecordAudit, RevokeKey, SetShippingPaused,
    TouchKeys,
};

#[tokio::test]
async fn keys_the_audit_log_the_catalogue_and_settings_agree_with_the_embedded_store() {
    let _serial = serial().await;
    let Some(both) = Both::new("differential access").await else {
        return;
    };
    let (a, b) = (key("a", "hash_b"), key("b", "hash_a"));
    let create = |record: &paytree::auth::KeyRecord, audited: bool| CreateKey {
        record: record.clone(),
        audit: audited.then(|| audit("key.created", record.id.as_str())),
    };
    both.one(create(&a, false)).await.unwrap();
    both.one(create(&b, true)).await.unwrap();
    both.agree().await;

    let revoke = |id: &KeyId, at| RevokeKey {
        id: id.clone(),
        at: Timestamp(at),
        audit: audit("key.revoked", id.as_str()),
    };
    both.one(revoke(&a.id, 900)).await.unwrap();
    // Revoked already: keeps its time, and nothing is audited.
    both.one(revoke(&a.id, 950)).await.unwrap();
    both.one(revoke(&KeyId::generate(), 960)).await.unwrap();
    both.agree().await;

    let used = |pairs: &[(&str, i64)]| TouchKeys {
        used: pairs
            .iter()
            .map(|(hash, at)| (hash.to_string(), Timestamp(*at)))
            .collect(),
    };
    both.one(used(&[
        ("hash_a", 10),
        ("hash_b", 30),
        ("hash_b", 20),
        ("nope", 5),
    ]))
    .await
    .unwrap();
    both.one(used(&[("hash_a", 5), ("hash_b", 40)]))
        .await
        .unwrap();
    both.one(used(&[])).await.unwrap();
    both.agree().await;

    let put = |sku, price, active| PutProduct {
        product: product(sku, price, active),
        audit: audit("product.changed", sku),
    };
    assert!(both.one(put("tea", 19_000, true)).await.unwrap().created);
    assert!(!both.one(put("tea", 21_000, true)).await.unwrap().created);
    assert!(both.one(put("cup", 9_000, false)).await.unwrap().created);
    assert!(both.one(put("pot", 30_000, true)).await.unwrap().created);
    both.one(RecordAudit {
        audit: audit("paymethod.released", "7"),
    })
    .await
    .unwrap();
    both.agree().await;

    let pause = |paused| SetShippingPaused {
        paused,
        audit: audit("shipping.paused", ""),
    };
    both.one(pause(true)).await.unwrap();
    both.agree().await;
    both.one(pause(false)).await.unwrap();
    both.one(pause(false)).await.unwrap();
    let meta = |value: &[u8]| PutMeta {
        name: BREAKER_OPEN_UNTIL,
        value: value.to_vec(),
    };
    both.one(meta(&[1, 2, 3])).await.unwrap();
    both.one(meta(&[])).await.unwrap();
    both.agree().await;
}
