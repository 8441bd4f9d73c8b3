//! The relay against real PostgreSQL and nats-server: every event reaches the stream once,
//! in commit order, across a relay that dies mid-batch and one that takes its lease over.
//! Needs `PAYTREE_TEST_NATS_URL` too (`.ci/with-nats`); SKIPPED without it.

use crate::*;
use futures_util::StreamExt;
use paytree::bus::{Bus, Delivered};
use paytree::store::postgres::relay::{RELAY, Relay};
use paytree::store::postgres::{Cursor, NewEvent, append};
use std::time::Duration;

fn event(aggregate: i64) -> NewEvent {
    NewEvent {
        kind: "order".into(),
        aggregate,
        version: 1,
        customer: "bob".into(),
        payload: aggregate.to_be_bytes().to_vec(),
    }
}

async fn commit(store: &Postgres, aggregates: &[i64]) {
    let mut client = store.client().await.unwrap();
    let txn = client.transaction().await.unwrap();
    let events: Vec<_> = aggregates.iter().map(|a| event(*a)).collect();
    append(&txn, &events).await.unwrap();
    txn.commit().await.unwrap();
}

/// Everything the consumer group `group` is handed until the stream has no more, acked.
async fn consume(bus: &Bus, group: &str) -> Vec<Delivered> {
    let consumer = bus
        .consumer_from(group, 1, Duration::from_secs(30), 100)
        .await
        .unwrap();
    let mut all = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        let before = all.len();
        while let Some(message) = batch.next().await {
            let delivered = Delivered::from_message(message.unwrap()).unwrap();
            delivered.message.ack().await.unwrap();
            all.push(delivered);
        }
        if all.len() == before {
            return all;
        }
    }
}

#[tokio::test]
async fn the_log_reaches_the_stream_once_in_commit_order_across_a_relay_that_dies_and_its_successor()
 {
    let _serial = serial().await;
    let Some((store, url)) = store("relay").await else {
        return;
    };
    let Some(nats) = nats("relay") else {
        return;
    };
    let bus = bus(&nats, "PAYTREE_TEST").await;
    let relay = |holder: &str| Relay {
        store: store.clone(),
        bus: bus.clone(),
        holder: holder.to_owned(),
        lease: Duration::from_millis(800),
        batch: 2,
    };
    let (first, second) = (relay("replica-1"), relay("replica-2"));

    commit(&store, &[1, 2]).await;
    // Aggregate 3's event takes its position, its transaction stays open; 4 and 5 commit.
    let mut slow = connect(&url).await;
    let held = slow.transaction().await.unwrap();
    append(&held, &[event(3)]).await.unwrap();
    commit(&store, &[4, 5]).await;

    let round = first.round().await.unwrap();
    assert!(round.leader);
    assert_eq!(
        round.published, 2,
        "1 and 2 only: 4 and 5 wait behind the open transaction"
    );
    let round = second.round().await.unwrap();
    assert!(!round.leader, "one relay at a time");

    held.commit().await.unwrap();
    commit(&store, &[6]).await;
    // The first relay dies in the middle of a batch: published, cursor not moved.
    let cursor = store.cursor(RELAY).await.unwrap();
    let batch = store.events_after(cursor, 2).await.unwrap();
    assert_eq!(bus.publish(&batch).await.unwrap(), 2);
    // Its lease runs out; the second relay takes over and publishes the batch again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let round = second.round().await.unwrap();
    assert!(round.leader, "the lease expired and was taken over");
    assert_eq!((round.published, round.duplicates), (2, 2), "{round:?}");
    // The first relay, back from the dead, may not move the cursor any more.
    assert!(
        !store
            .advance(RELAY, "replica-1", Cursor::default())
            .await
            .unwrap()
    );
    assert!(!first.round().await.unwrap().leader);

    let delivered = consume(&bus, "projector").await;
    let order: Vec<i64> = delivered.iter().map(|d| d.event.aggregate).collect();
    assert_eq!(
        order,
        [1, 2, 3, 4, 5, 6],
        "each event once, in commit order"
    );
    let cursors: Vec<Cursor> = delivered.iter().map(|d| d.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(delivered[2].event.payload, 3i64.to_be_bytes());
    assert_eq!(store.cursor(RELAY).await.unwrap(), *cursors.last().unwrap());
}
