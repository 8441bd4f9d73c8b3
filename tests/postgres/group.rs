//! A consumer group across replicas: one reads at a time, a reader that dies before its
//! commit has its batch delivered again to the next, one that dies after its commit but
//! before its acks has the batch delivered again and skipped; every event's effect is written
//! exactly once. Needs `PAYTREE_TEST_NATS_URL` too; SKIPPED without it.

use crate::*;
use paytree::store::postgres::group::{Batch, GroupReader};
use paytree::store::postgres::relay::Relay;
use paytree::store::postgres::{NewEvent, append};
use std::time::Duration;

async fn commit(store: &Postgres, aggregates: &[i64]) {
    let mut client = store.client().await.unwrap();
    let txn = client.transaction().await.unwrap();
    let events: Vec<_> = aggregates
        .iter()
        .map(|a| NewEvent {
            kind: "paymethod".into(),
            aggregate: *a,
            version: 1,
            customer: "carol".into(),
            payload: vec![],
        })
        .collect();
    append(&txn, &events).await.unwrap();
    txn.commit().await.unwrap();
}

fn aggregates(batch: &Batch) -> Vec<i64> {
    batch.events.iter().map(|d| d.event.aggregate).collect()
}

/// Writes the batch's effect (a row per event) with the group's cursor; true if committed.
async fn apply(store: &Postgres, reader: &GroupReader, batch: &Batch, holder: &str) -> bool {
    let mut client = store.client().await.unwrap();
    let txn = client.transaction().await.unwrap();
    for d in &batch.events {
        txn.execute(
            "INSERT INTO handled (aggregate, holder) VALUES ($1, $2)",
            &[&d.event.aggregate, &holder],
        )
        .await
        .unwrap();
    }
    if !reader.finish(&txn, batch).await.unwrap() {
        return false;
    }
    txn.commit().await.unwrap();
    true
}

#[tokio::test]
async fn a_group_reads_every_event_once_across_readers_that_die_before_and_after_their_commit() {
    let _serial = serial().await;
    let Some((store, url)) = store("group").await else {
        return;
    };
    let Some(nats) = nats("group") else {
        return;
    };
    connect(&url)
        .await
        .batch_execute("CREATE TABLE handled (aggregate bigint NOT NULL, holder text NOT NULL)")
        .await
        .unwrap();
    let bus = bus(&nats, "PAYTREE_GROUP").await;
    let relay = Relay {
        store: store.clone(),
        bus: bus.clone(),
        holder: "relay".into(),
        lease: Duration::from_secs(30),
        batch: 100,
    };
    let lease = Duration::from_millis(800);
    let ack_wait = Duration::from_secs(1);
    let reader = |holder: &'static str| {
        GroupReader::new(store.clone(), &bus, "projector", holder, lease, ack_wait, 2)
    };
    let (a, b) = (reader("a").await.unwrap(), reader("b").await.unwrap());
    let wait = Duration::from_millis(300);

    commit(&store, &[1, 2, 3, 4]).await;
    relay.round().await.unwrap();

    // a takes 1 and 2, and dies before its commit.
    let batch = a.next(wait).await.unwrap().expect("a holds the lease");
    assert_eq!(aggregates(&batch), [1, 2]);
    drop(batch);
    assert!(
        b.next(wait).await.unwrap().is_none(),
        "one reader per group"
    );

    // Its lease expires and the messages it had come back to b, before any newer one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut batch = b.next(wait).await.unwrap().expect("b took the lease");
    for _ in 0..10 {
        if !batch.events.is_empty() {
            break;
        }
        b.ack(batch).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        batch = b.next(wait).await.unwrap().unwrap();
    }
    assert_eq!(aggregates(&batch), [1, 2], "redelivered first, in order");
    assert!(apply(&store, &b, &batch, "b").await);
    b.ack(batch).await.unwrap();

    // b takes 3 and 4, commits, and dies before its acks.
    let batch = b.next(wait).await.unwrap().unwrap();
    assert_eq!(aggregates(&batch), [3, 4]);
    assert!(apply(&store, &b, &batch, "b").await);
    drop(batch);

    // a takes over: 3 and 4 come back, already handled, and are only acked.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut skipped = 0;
    for _ in 0..10 {
        let batch = a.next(wait).await.unwrap().expect("a took the lease back");
        assert!(batch.events.is_empty(), "{:?}", aggregates(&batch));
        skipped += batch.skipped;
        a.ack(batch).await.unwrap();
        if skipped == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(skipped, 2, "3 and 4 delivered again and skipped");

    commit(&store, &[5]).await;
    relay.round().await.unwrap();
    let batch = a.next(wait).await.unwrap().unwrap();
    assert_eq!(aggregates(&batch), [5]);
    // b, which lost the lease, cannot write a batch: its cursor move is refused.
    let mut client = store.client().await.unwrap();
    let txn = client.transaction().await.unwrap();
    assert!(!b.finish(&txn, &batch).await.unwrap());
    drop(txn);
    assert!(apply(&store, &a, &batch, "a").await);
    a.ack(batch).await.unwrap();

    let rows = connect(&url)
        .await
        .query("SELECT aggregate FROM handled ORDER BY aggregate", &[])
        .await
        .unwrap();
    let handled: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        handled,
        [1, 2, 3, 4, 5],
        "every event's effect exactly once"
    );
}
