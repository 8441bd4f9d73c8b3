//! What a replica that takes a log reader over from one killed -9 must pick up besides the
//! reader's checkpoint: the saga's steps that the dead replica planned and had not carried
//! out, which live in the store only. Runs with `PAYTREE_TEST_POSTGRES_URL` and
//! `PAYTREE_TEST_NATS_URL`, else prints SKIPPED and passes.

use crate::helpers::cluster::Cluster;
use crate::helpers::workload::crash_flags;
use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_refund_the_killed_saga_replica_kept_retrying_is_made_by_a_survivor() {
    let provider = spawn_provider().await;
    let flags = crash_flags(&provider);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some(mut cluster) = Cluster::start(3, &flags).await else {
        eprintln!(
            "SKIPPED the saga's takeover: needs PAYTREE_TEST_POSTGRES_URL and PAYTREE_TEST_NATS_URL"
        );
        return;
    };
    let app = cluster.app();
    let card = app.shopper("alice").await;
    let order = app.order_ok("alice", card, 1).await;
    let id = order.id();
    let charge: Value = app.payment(&order["paymentId"]).await.json().await.unwrap();
    let authorization = charge["providerReference"].as_str().unwrap();
    provider
        .set_faults(json!({"refuseRefunds": [authorization]}))
        .await;
    assert_eq!(app.cancel(id).await.status(), 202);
    // The replica reading for the saga has planned the refund and tries it, and again.
    app.order_when(id, "a refused refund", |o| {
        o["cancellation"]["refundAttempts"].as_u64() >= Some(2)
    })
    .await;
    let saga = cluster
        .holder_of("saga")
        .await
        .expect("a replica reads for the saga");
    cluster.kill(saga).await;
    provider.set_faults(json!({})).await;
    // Not started again: the survivors take the saga over once its lease (10 s) lapses.
    let cancelled = app.order_in_within(id, "cancelled", 60).await;
    assert_eq!(cancelled["cancellation"]["outcome"], "refunded");
}
