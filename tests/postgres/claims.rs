//! Idempotency-Keys in flight across replicas: one claim at a time, released or lapsed.

use crate::*;
use std::time::Duration;

#[tokio::test]
async fn a_key_claimed_by_one_replica_is_refused_to_another_until_released_or_lapsed() {
    let _serial = serial().await;
    let Some((store, _)) = store("claims").await else {
        return;
    };
    let long = Duration::from_secs(60);
    assert!(store.claim_key("alice", "k1", "a", long).await.unwrap());
    assert!(!store.claim_key("alice", "k1", "b", long).await.unwrap());
    assert!(
        store.claim_key("bob", "k1", "b", long).await.unwrap(),
        "keys are scoped per customer"
    );
    // Only its holder releases it.
    store.release_key("alice", "k1", "b").await.unwrap();
    assert!(!store.claim_key("alice", "k1", "b", long).await.unwrap());
    store.release_key("alice", "k1", "a").await.unwrap();
    assert!(
        store
            .claim_key("alice", "k1", "b", Duration::from_millis(200))
            .await
            .unwrap()
    );
    // A replica that died holding it: the claim lapses.
    assert!(!store.claim_key("alice", "k1", "a", long).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.claim_key("alice", "k1", "a", long).await.unwrap());
}
