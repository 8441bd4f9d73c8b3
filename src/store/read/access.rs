//! Reads of keys and the audit log.

use super::{Page, fetch, page};
use crate::auth::{AuditEntry, KeyRecord};
use crate::store::codec::decode;
use crate::store::tables::{API_KEYS, AUDIT};
use crate::store::{Store, StoreError};
use redb::ReadableTable;

impl Store {
    /// Every key ever made, revoked ones included (`Keys` holds them all in memory).
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(API_KEYS)?;
        keys.iter()?
            .map(|row| decode(row?.1.value()))
            .collect::<Result<_, _>>()
    }

    /// Audit entries with ids above `after`, oldest first.
    pub fn audit(&self, after: u64, limit: usize) -> Result<Page<AuditEntry>, StoreError> {
        let txn = self.read()?;
        let rows = txn.open_table(AUDIT)?;
        let ids = rows
            .range(after.saturating_add(1)..)?
            .map(|r| r.map(|(k, _)| k.value()));
        page(ids, limit, |id| fetch(&rows, id))
    }
}
