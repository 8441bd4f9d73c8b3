//! Online backup: every table of one read transaction (a snapshot: what was committed when it
//! began, whatever the writer commits meanwhile) copied, typed, into a new database, which is
//! committed durably. The store keeps serving throughout; the snapshot only keeps the pages it
//! reads from being reused until it ends, so the store file may grow while a backup runs.

use super::StoreError;
use super::tables::{self, EVENTS, EachTable};
use redb::{
    Database, Key, MultimapTableHandle, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, TableHandle, Value, WriteTransaction,
};
use std::collections::BTreeSet;
use std::path::Path;

/// The backup database's page cache. Its writes pass through it once; a small cache bounds
/// the memory a backup adds to the server's (redb's default is 1 GiB).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub tables: usize,
    pub rows: u64,
    /// The last event position in the snapshot (0 for an empty log).
    pub position: u64,
}

/// Why a backup failed. Nothing is left half-made: the caller deletes the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Redb(#[from] StoreError),
    /// The snapshot holds tables the copy does not know: a backup would silently lack them.
    #[error("the store has tables that a backup does not copy: {0:?}")]
    Incomplete(Vec<String>),
}

/// Copies a snapshot of `db` into a new database at `to` (which must not exist yet).
pub fn copy(db: &Database, to: &Path) -> Result<Copied, BackupError> {
    let snapshot = db.begin_read().map_err(StoreError::from)?;
    let target = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(to)
        .map_err(StoreError::from)?;
    let txn = target.begin_write().map_err(StoreError::from)?;
    let mut copy = Copy {
        from: &snapshot,
        to: &txn,
        copied: BTreeSet::new(),
        rows: 0,
    };
    tables::for_each(&mut copy)?;
    let (copied, rows) = (copy.copied, copy.rows);
    let missing = uncopied(&snapshot, &copied)?;
    if !missing.is_empty() {
        return Err(BackupError::Incomplete(missing));
    }
    let position = last_position(&snapshot)?;
    // Durability::Immediate, the default: the copy is on disk when this returns.
    txn.commit().map_err(StoreError::from)?;
    drop(snapshot);
    // redb grows a file by doubling it (up to 4 GiB a step), so a new copy may be up to twice
    // its data; compaction gives that tail back before the file is sent anywhere.
    let mut target = target;
    target
        .compact()
        .map_err(|e| StoreError::from(redb::Error::from(e)))?;
    Ok(Copied {
        tables: copied.len(),
        rows,
        position,
    })
}

/// Copies each table's rows in key order.
struct Copy<'a> {
    from: &'a ReadTransaction,
    to: &'a WriteTransaction,
    copied: BTreeSet<String>,
    rows: u64,
}

impl EachTable for Copy<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        table: TableDefinition<'static, K, V>,
    ) -> Result<(), StoreError> {
        let source = self.from.open_table(table)?;
        let mut target = self.to.open_table(table)?;
        for row in source.iter()? {
            let (k, v) = row?;
            target.insert(k.value(), v.value())?;
            self.rows += 1;
        }
        self.copied.insert(table.name().to_owned());
        Ok(())
    }
}

/// The snapshot's tables (plain and multimap) that were not copied.
fn uncopied(
    snapshot: &ReadTransaction,
    copied: &BTreeSet<String>,
) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = snapshot
        .list_tables()?
        .map(|t| t.name().to_owned())
        .collect();
    names.extend(
        snapshot
            .list_multimap_tables()?
            .map(|t| t.name().to_owned()),
    );
    names.retain(|n| !copied.contains(n));
    Ok(names)
}

fn last_position(snapshot: &ReadTransaction) -> Result<u64, StoreError> {
    let events = snapshot.open_table(EVENTS)?;
    Ok(events.last()?.map_or(0, |(k, _)| k.value()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Redb;
    use crate::store::tables::*;
    use redb::{ReadOnlyDatabase, ReadableTableMetadata};
    use std::collections::BTreeMap;

    /// One row in every table, written as the tables are typed (the values need not decode:
    /// a backup copies bytes). A table the store gains must get a row here, or the test
    /// below fails on its empty table.
    fn fill(db: &Database) {
        let txn = db.begin_write().unwrap();
        {
            let b: &[u8] = b"x";
            txn.open_table(PAYMETHODS).unwrap().insert(1, b).unwrap();
            let by = ("alice", OF_PAYMETHODS, 1);
            txn.open_table(BY_CUSTOMER).unwrap().insert(by, ()).unwrap();
            txn.open_table(EVENTS).unwrap().insert(7, b).unwrap();
            txn.open_table(PAYMENTS).unwrap().insert(1, b).unwrap();
            let pair = (1, 1);
            txn.open_table(PAYMENTS_BY_PAYMETHOD)
                .unwrap()
                .insert(pair, ())
                .unwrap();
            txn.open_table(SEQUENCES)
                .unwrap()
                .insert(SEQ_POSITION, 8)
                .unwrap();
            let key = ("alice", "k");
            txn.open_table(IDEMPOTENCY).unwrap().insert(key, b).unwrap();
            txn.open_table(MESSAGES).unwrap().insert(7, b).unwrap();
            txn.open_table(MESSAGES_PENDING)
                .unwrap()
                .insert(7, ())
                .unwrap();
            txn.open_table(DELIVERY_ATTEMPTS)
                .unwrap()
                .insert((7, 1), b)
                .unwrap();
            let view = ("alice", VIEW_METHOD, 1);
            txn.open_table(MYPAGE).unwrap().insert(view, b).unwrap();
            txn.open_table(CHECKPOINTS)
                .unwrap()
                .insert(PROJECTOR, 7)
                .unwrap();
            let aged = (5, "alice", "k");
            txn.open_table(IDEMPOTENCY_BY_TIME)
                .unwrap()
                .insert(aged, ())
                .unwrap();
            txn.open_table(INTENTS).unwrap().insert("reg_a", b).unwrap();
            txn.open_table(INTENTS_OPEN)
                .unwrap()
                .insert((5, "reg_a"), ())
                .unwrap();
            txn.open_table(REFUNDS_OWED)
                .unwrap()
                .insert("auth_1", b)
                .unwrap();
            txn.open_table(API_KEYS).unwrap().insert("hash", b).unwrap();
            txn.open_table(KEY_IDS)
                .unwrap()
                .insert("key_1", "hash")
                .unwrap();
            txn.open_table(AUDIT).unwrap().insert(1, b).unwrap();
            txn.open_table(PRODUCTS).unwrap().insert("tee", b).unwrap();
            txn.open_table(ORDERS).unwrap().insert(1, b).unwrap();
            txn.open_table(SHIPMENTS).unwrap().insert(1, b).unwrap();
            txn.open_table(SHIPMENT_OF_ORDER)
                .unwrap()
                .insert(1, 1)
                .unwrap();
            txn.open_table(SHIPMENTS_BY_STATUS)
                .unwrap()
                .insert((0, 1), ())
                .unwrap();
            txn.open_table(SAGA_STEPS)
                .unwrap()
                .insert((1, 0), ())
                .unwrap();
            // META has its layout entry from `Redb::open`.
        }
        txn.commit().unwrap();
    }

    /// Every table's name and row count.
    fn census(txn: &ReadTransaction) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for handle in txn.list_tables().unwrap() {
            let table = txn.open_untyped_table(handle.clone()).unwrap();
            all.insert(handle.name().to_owned(), table.len().unwrap());
        }
        for handle in txn.list_multimap_tables().unwrap() {
            let table = txn.open_untyped_multimap_table(handle.clone()).unwrap();
            all.insert(
                format!("{} (multimap)", handle.name()),
                table.len().unwrap(),
            );
        }
        all
    }

    /// A store made by `Redb::open`, then given rows by `write` through redb directly.
    fn store_with(path: &Path, write: impl FnOnce(&Database)) -> Redb {
        drop(Redb::open(path).unwrap());
        write(&Database::create(path).unwrap());
        Redb::open(path).unwrap()
    }

    #[test]
    fn a_backup_holds_every_table_of_the_store_with_every_row() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("paytree.redb");
        let store = store_with(&path, fill);
        let to = dir.path().join("backup.redb");
        let copied = store.backup_to(&to).unwrap();
        drop(store);

        let source = census(&ReadOnlyDatabase::open(&path).unwrap().begin_read().unwrap());
        assert!(
            source.iter().all(|(_, rows)| *rows > 0),
            "fill() leaves a table empty (give it a row): {source:?}"
        );
        let backup = ReadOnlyDatabase::open(&to).unwrap();
        assert_eq!(census(&backup.begin_read().unwrap()), source);
        assert_eq!(copied.tables, source.len());
        assert_eq!(copied.rows, source.values().sum::<u64>());
        assert_eq!(copied.position, 7);
    }

    #[test]
    fn every_table_defined_is_in_the_list_that_creates_and_copies_them() {
        struct Names(BTreeSet<String>);
        impl EachTable for Names {
            fn table<K: Key + 'static, V: Value + 'static>(
                &mut self,
                table: TableDefinition<'static, K, V>,
            ) -> Result<(), StoreError> {
                self.0.insert(table.name().to_owned());
                Ok(())
            }
        }
        let mut listed = Names(BTreeSet::new());
        tables::for_each(&mut listed).unwrap();
        let source = include_str!("tables.rs");
        let source = &source[..source.find("#[cfg(test)]").unwrap()];
        let defined: BTreeSet<String> = source
            .split("TableDefinition::new(\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
            .collect();
        assert!(defined.len() > 20, "{defined:?}");
        assert_eq!(listed.0, defined);
    }

    #[test]
    fn a_table_outside_the_list_fails_the_backup_rather_than_be_left_out() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = store_with(&dir.path().join("paytree.redb"), |db| {
            let txn = db.begin_write().unwrap();
            let stray: TableDefinition<u64, u64> = TableDefinition::new("stray");
            txn.open_table(stray).unwrap().insert(1, 1).unwrap();
            txn.commit().unwrap();
        });
        match store.backup_to(&dir.path().join("backup.redb")) {
            Err(BackupError::Incomplete(missing)) => assert_eq!(missing, ["stray"]),
            other => panic!("the backup did not refuse: {other:?}"),
        }
    }
}
