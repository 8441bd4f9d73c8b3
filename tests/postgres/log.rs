//! The event log read in commit order: a transaction that took an earlier position but
//! commits later is neither skipped nor read twice.

use crate::*;
use paytree::store::postgres::{Cursor, NewEvent, append};

fn event(aggregate: i64, version: i64) -> NewEvent {
    NewEvent {
        kind: "paymethod".into(),
        aggregate,
        version,
        customer: "alice".into(),
        payload: vec![aggregate as u8, version as u8],
    }
}

/// Appends one event in a transaction of its own and commits it.
async fn commit_one(store: &Postgres, e: NewEvent) -> i64 {
    let mut client = store.client().await.unwrap();
    let txn = client.transaction().await.unwrap();
    let position = append(&txn, &[e]).await.unwrap()[0];
    txn.commit().await.unwrap();
    position
}

/// Reads everything readable after `cursor`, a batch of 2 at a time; the new cursor.
async fn read_all(store: &Postgres, mut cursor: Cursor, seen: &mut Vec<i64>) -> Cursor {
    loop {
        let batch = store.events_after(cursor, 2).await.unwrap();
        let Some(last) = batch.last() else {
            return cursor;
        };
        cursor = last.cursor;
        seen.extend(batch.iter().map(|e| e.event.aggregate));
    }
}

#[tokio::test]
async fn a_transaction_held_open_while_later_ones_commit_is_read_once_in_its_place() {
    let _serial = serial().await;
    let Some((store, url)) = store("commit order").await else {
        return;
    };
    commit_one(&store, event(1, 1)).await;

    // Aggregate 2's event takes its position first, and its transaction stays open.
    let mut slow = connect(&url).await;
    let held = slow.transaction().await.unwrap();
    let early = append(&held, &[event(2, 1)]).await.unwrap()[0];
    // Later transactions take later positions and commit first.
    let later_a = commit_one(&store, event(3, 1)).await;
    let later_b = commit_one(&store, event(4, 1)).await;
    assert!(early < later_a && later_a < later_b);

    let mut seen = Vec::new();
    let cursor = read_all(&store, Cursor::default(), &mut seen).await;
    assert_eq!(
        seen,
        [1],
        "nothing at or after the open transaction is readable yet"
    );

    held.commit().await.unwrap();
    let cursor = read_all(&store, cursor, &mut seen).await;
    assert_eq!(
        seen,
        [1, 2, 3, 4],
        "every event once, the held one in its place"
    );
    assert!(read_all(&store, cursor, &mut Vec::new()).await == cursor);

    // The same history read by a bare position, as a reader that trusts the sequence
    // would: it moves past the held event while its transaction is open and never sees it.
    let mut slow = connect(&url).await;
    let held = slow.transaction().await.unwrap();
    let early = append(&held, &[event(5, 1)]).await.unwrap()[0];
    commit_one(&store, event(6, 1)).await;
    let client = connect(&url).await;
    let by_position = |after: i64| {
        let client = &client;
        async move {
            client
                .query(
                    "SELECT position, aggregate FROM events WHERE position > $1 ORDER BY position",
                    &[&after],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
                .collect::<Vec<_>>()
        }
    };
    let first = by_position(early - 1).await;
    assert_eq!(first.iter().map(|r| r.1).collect::<Vec<_>>(), [6]);
    held.commit().await.unwrap();
    let next = by_position(first.last().unwrap().0).await;
    assert!(
        next.is_empty(),
        "the bare-position reader skipped aggregate 5 for good"
    );
    // The commit-order reader does not.
    let mut seen = Vec::new();
    read_all(&store, cursor, &mut seen).await;
    assert_eq!(seen, [5, 6]);
}

#[tokio::test]
async fn a_second_write_of_the_same_aggregate_version_fails_and_stores_nothing() {
    let _serial = serial().await;
    let Some((store, _url)) = store("one writer per version").await else {
        return;
    };
    commit_one(&store, event(7, 1)).await;
    let mut client = store.client().await.unwrap();
    let txn = client.transaction().await.unwrap();
    let err = append(&txn, &[event(8, 1), event(7, 1)]).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("duplicate key"), "{err}");
    drop(txn);
    let mut seen = Vec::new();
    read_all(&store, Cursor::default(), &mut seen).await;
    assert_eq!(seen, [7], "the failed transaction left nothing");
}

#[tokio::test]
async fn transaction_ids_are_ordered_as_numbers_across_a_power_of_ten() {
    let _serial = serial().await;
    let Some((store, url)) = store("log_digits").await else {
        return;
    };
    // Brings the cluster's transaction ids just below the next power of ten (each write of a
    // subtransaction takes one), so that the events below straddle it: 99…8, 99…9, 100…0.
    let db = connect(&url).await;
    db.batch_execute("CREATE TABLE burn (x int)").await.unwrap();
    let row = db
        .query_one("SELECT pg_current_xact_id()::text::bigint", &[])
        .await
        .unwrap();
    let now: i64 = row.get(0);
    let boundary = 10i64.pow(now.ilog10() + 1);
    let burn = boundary - now - 4;
    db.batch_execute(&format!(
        "DO $$ BEGIN FOR i IN 1..{burn} LOOP
             BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN others THEN NULL; END;
         END LOOP; END $$"
    ))
    .await
    .unwrap();
    for aggregate in 1..=6 {
        commit_one(&store, event(aggregate, 1)).await;
    }
    let (mut seen, mut xids) = (Vec::new(), Vec::new());
    let mut cursor = Cursor::default();
    loop {
        let batch = store.events_after(cursor, 2).await.unwrap();
        let Some(last) = batch.last() else { break };
        cursor = last.cursor;
        seen.extend(batch.iter().map(|e| e.event.aggregate));
        xids.extend(batch.iter().map(|e| e.cursor.xid));
    }
    assert!(
        xids.first().unwrap() < &(boundary as u64) && xids.last().unwrap() >= &(boundary as u64),
        "the events straddle {boundary}: {xids:?}"
    );
    assert_eq!(seen, [1, 2, 3, 4, 5, 6], "in commit order (xids {xids:?})");
}

#[tokio::test]
async fn events_are_read_in_the_order_of_their_transactions_numbers_not_of_their_digits() {
    let _serial = serial().await;
    let Some((store, _)) = store("xid order").await else {
        return;
    };
    // Transactions 99 and 100 ended long ago in any cluster; as text, "100" comes first.
    let client = store.client().await.unwrap();
    for (xid, aggregate) in [("100", 2i64), ("99", 1)] {
        client
            .execute(
                "INSERT INTO events (xid, kind, aggregate, version, customer, payload)
                 VALUES ($1::text::xid8, 'paymethod', $2, 1, 'alice', '\\x00')",
                &[&xid, &aggregate],
            )
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    read_all(&store, Cursor::default(), &mut seen).await;
    assert_eq!(seen, [1, 2], "transaction 99's event, then 100's");
    let all = store.events_after(Cursor::default(), 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].cursor < all[1].cursor, "{all:?}");
}
