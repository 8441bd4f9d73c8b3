//! Migrations run at start, once each, however many replicas start together.

use crate::*;
use paytree::store::postgres::{MIGRATIONS, PgError};

#[tokio::test]
async fn replicas_starting_together_apply_each_migration_once_and_a_restart_applies_none() {
    let _serial = serial().await;
    let Some(url) = database("migrations").await else {
        return;
    };
    let starts = (0..3).map(|_| Postgres::connect(&url, 2));
    for started in futures_util::future::join_all(starts).await {
        started.expect("every replica starts");
    }
    let client = connect(&url).await;
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known: Vec<i32> = MIGRATIONS.iter().map(|(v, ..)| *v).collect();
    assert_eq!(versions, known);
    let again = Postgres::connect(&url, 2).await.unwrap();
    assert!(
        again.migrate().await.unwrap().is_empty(),
        "nothing left to apply"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_paytree_is_refused() {
    let _serial = serial().await;
    let Some((_store, url)) = store("newer schema").await else {
        return;
    };
    connect(&url)
        .await
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from the future')",
            &[],
        )
        .await
        .unwrap();
    match Postgres::connect(&url, 2).await {
        Err(PgError::NewerSchema(9999)) => {}
        other => panic!("expected NewerSchema(9999), got {other:?}"),
    }
}
