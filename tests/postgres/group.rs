//! A consumer group across replicas: one reads at a time; a reader that takes the group over
//! goes on from the stored checkpoint (a batch its predecessor fetched and never wrote comes
//! to it at once, one it wrote and never acked does not come again); a batch is never
//! written twice; a message handed to someone else (a gap in the stream's sequence) makes the
//! reader start again from it. Every event's effect is written exactly once. Needs
//! `PAYTREE_TEST_NATS_URL` too; SKIPPED without it.

use crate::*;
use futures_util::StreamExt;
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
    let (bus, stream) = named_bus(&nats, "PAYTREE_GROUP").await;
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
    let (mut a, mut b) = (reader("a"), reader("b"));
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

    // Its lease expires; b takes the group over from the stored checkpoint: 1 and 2 at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let batch = b.next(wait).await.unwrap().expect("b took the lease");
    assert_eq!(aggregates(&batch), [1, 2], "from the checkpoint, in order");
    assert!(apply(&store, &b, &batch, "b").await);
    GroupReader::ack(batch).await.unwrap();

    // b takes 3 and 4, commits, and dies before its acks.
    let batch = b.next(wait).await.unwrap().unwrap();
    assert_eq!(aggregates(&batch), [3, 4]);
    assert!(apply(&store, &b, &batch, "b").await);
    drop(batch);

    // a takes over after the checkpoint: 3 and 4 do not come again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let batch = a.next(wait).await.unwrap().expect("a took the lease back");
    assert!(batch.events.is_empty(), "{:?}", aggregates(&batch));

    commit(&store, &[5]).await;
    relay.round().await.unwrap();
    let batch = a.next(wait).await.unwrap().unwrap();
    assert_eq!(aggregates(&batch), [5]);
    assert!(apply(&store, &a, &batch, "a").await);
    // The same batch written a second time (by a reader that lost the group meanwhile, say):
    // refused, its checkpoint has moved.
    assert!(!apply(&store, &a, &batch, "a").await);
    GroupReader::ack(batch).await.unwrap();

    // A message handed out to someone else (here a second client on the group's consumer,
    // as a fetch whose answer never arrived would): a sees the gap and reads from it again.
    commit(&store, &[6, 7]).await;
    relay.round().await.unwrap();
    let thief = async_nats::jetstream::new(async_nats::connect(&nats).await.unwrap());
    let stolen = thief
        .get_stream(&stream)
        .await
        .unwrap()
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>("projector")
        .await
        .unwrap()
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .unwrap()
        .next()
        .await
        .expect("a message for the thief")
        .unwrap();
    drop(stolen);
    let mut seen = Vec::new();
    for _ in 0..10 {
        let batch = a.next(wait).await.unwrap().unwrap();
        seen.extend(aggregates(&batch));
        assert!(apply(&store, &a, &batch, "a").await);
        GroupReader::ack(batch).await.unwrap();
        if seen.len() >= 2 {
            break;
        }
    }
    assert_eq!(seen, [6, 7], "the stolen message read again, in order");

    let rows = connect(&url)
        .await
        .query("SELECT aggregate FROM handled ORDER BY aggregate", &[])
        .await
        .unwrap();
    let handled: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        handled,
        [1, 2, 3, 4, 5, 6, 7],
        "every event's effect exactly once"
    );
}
