//! Id blocks reserved by replicas at once never overlap, and the first id is 1.

use crate::*;
use std::collections::BTreeSet;

#[tokio::test]
async fn blocks_reserved_by_three_replicas_at_once_never_overlap() {
    let _serial = serial().await;
    let Some((store, url)) = store("ids").await else {
        return;
    };
    assert_eq!(store.reserve_ids("order", 10).await.unwrap(), 1);
    // Three replicas (pools of their own), 50 reservations each, all at once.
    let mut replicas = vec![store];
    for _ in 0..2 {
        replicas.push(Postgres::connect(&url, 4).await.unwrap());
    }
    let reservations = replicas.iter().flat_map(|replica| {
        (0..50).map(move |_| async move { replica.reserve_ids("paymethod", 1024).await })
    });
    let firsts = futures_util::future::try_join_all(reservations)
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    for first in &firsts {
        for id in *first..*first + 1024 {
            assert!(ids.insert(id), "id {id} reserved twice");
        }
    }
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.len(), 150 * 1024);
    assert_eq!(*ids.last().unwrap(), 150 * 1024, "no gaps between blocks");
    assert_eq!(
        replicas[0].reserve_ids("order", 1).await.unwrap(),
        11,
        "per kind"
    );
}
