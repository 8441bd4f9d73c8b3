//! The router: quarantine and release, the LRU cap, ids for new aggregates.

use super::*;

/// A store writer on a fresh store, and the writer handle on it.
async fn store_writer(dir: &std::path::Path) -> Writer {
    use crate::actors::store_writer::{StoreWriterActor, StoreWriterArgs};
    let store = crate::store::Store::open(&dir.join("t.redb")).unwrap();
    let args = StoreWriterArgs {
        store,
        max_batch: 16,
        commits: Arc::new(tokio::sync::watch::channel(crate::domain::Position(0)).0),
        ack_before_commit: false,
    };
    let (actor, _) = Actor::spawn(None, StoreWriterActor, args).await.unwrap();
    let writer = Writer::new(Slot::default(), Duration::from_secs(5));
    writer.slot().set(Some(actor));
    writer
}

#[tokio::test]
async fn an_aggregate_that_keeps_failing_is_quarantined_until_released() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    for failures in 1..=3 {
        // One at a time: a failing incarnation's mailbox goes with it.
        toy.router
            .send_message(RouterMessage::Route(ToyId(1), ToyCommand::Break, later()))
            .unwrap();
        eventually(|| toy.services.runs() == failures).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        toy.add(1, 1).await,
        Err(AggregateError::Refused(Refusal::Quarantined))
    );
    assert_eq!(toy.add(2, 1).await, Ok(1), "other aggregates go on working");
    assert!(toy.release(1).await);
    assert_eq!(toy.add(1, 1).await, Ok(1));
}

#[tokio::test]
async fn past_max_live_the_least_recently_used_aggregate_is_passivated() {
    let limits = AggregateLimits {
        max_live: 2,
        ..limits()
    };
    let toy = toy(limits, Duration::from_secs(60)).await;
    toy.add(1, 1).await.unwrap();
    toy.add(2, 1).await.unwrap();
    toy.add(1, 1).await.unwrap(); // 2 is now the least recently used
    toy.add(3, 1).await.unwrap(); // evicts 2
    assert_eq!(toy.services.loads(), 3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    toy.add(1, 1).await.unwrap();
    assert_eq!(toy.services.loads(), 3, "1 stayed live");
    toy.add(2, 1).await.unwrap();
    assert_eq!(toy.services.loads(), 4, "2 was evicted and loads again");
    assert_eq!(toy.services.stored.lock().unwrap()[&2], 2);
}

#[tokio::test]
async fn new_aggregates_get_ids_from_blocks_reserved_durably_and_are_refused_without_a_store() {
    let without = toy(limits(), Duration::from_secs(60)).await;
    assert_eq!(
        without.create(1).await,
        Err(AggregateError::Refused(Refusal::Unavailable)),
        "no reservation, no creation: refused, not left waiting"
    );

    let dir = tempfile::TempDir::new().unwrap();
    let writer = store_writer(dir.path()).await;
    let first = toy_writing_to(writer.clone(), limits(), Duration::from_secs(60)).await;
    for _ in 0..3 {
        assert_eq!(first.create(1).await, Ok(1));
    }
    let ids = |toy: &Toy| {
        let mut ids: Vec<u64> = toy
            .services
            .stored
            .lock()
            .unwrap()
            .keys()
            .copied()
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&first), [1, 2, 3]);
    // Another router on the same store (a restart) starts after every id reserved before.
    let second = toy_writing_to(writer, limits(), Duration::from_secs(60)).await;
    assert_eq!(second.create(1).await, Ok(1));
    let after = ids(&second)[0];
    assert!(after > 3, "id {after} was handed out again");
    assert_eq!(
        (after - 1) % super::ids::ID_BLOCK,
        0,
        "a block of its own: {after}"
    );
}
