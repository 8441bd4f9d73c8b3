//! Keys, the audit log and the catalogue (changed by admins and sellers only). Their tables are opened only by the commands that use them, so
//! the batches of every other command do not pay for them.

use super::{StoreError, Tables};
use crate::auth::{AuditEntry, KeyId, KeyRecord};
use crate::domain::Timestamp;
use crate::domain::catalogue::Product;
use crate::store::codec::{decode, encode};
use crate::store::tables::{API_KEYS, AUDIT, KEY_IDS, PRODUCTS, SEQ_AUDIT};
use redb::ReadableTable;

impl Tables<'_> {
    /// Stores a new key under its hash, and the admin action that made it.
    pub(super) fn create_key(
        &mut self,
        record: &KeyRecord,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        self.txn
            .open_table(API_KEYS)?
            .insert(record.hash.as_str(), encode(record)?.as_slice())?;
        self.txn
            .open_table(KEY_IDS)?
            .insert(record.id.as_str(), record.hash.as_str())?;
        if let Some(audit) = audit {
            self.record_audit(audit)?;
        }
        Ok(())
    }

    /// Marks key `id` revoked at `at` (an unknown or revoked key is left as it is) and
    /// records the action.
    pub(super) fn revoke_key(
        &mut self,
        id: &KeyId,
        at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let Some(hash) = self.key_hash(id)? else {
            return Ok(());
        };
        let mut keys = self.txn.open_table(API_KEYS)?;
        let Some(mut record) = keys
            .get(hash.as_str())?
            .map(|v| decode::<KeyRecord>(v.value()))
            .transpose()?
        else {
            return Ok(());
        };
        if record.revoked_at.is_some() {
            return Ok(());
        }
        record.revoked_at = Some(at);
        keys.insert(hash.as_str(), encode(&record)?.as_slice())?;
        drop(keys);
        self.record_audit(audit)
    }

    /// Records when keys were last used (never earlier than what is stored).
    pub(super) fn touch_keys(&mut self, used: &[(String, Timestamp)]) -> Result<(), StoreError> {
        let mut keys = self.txn.open_table(API_KEYS)?;
        for (hash, at) in used {
            let Some(mut record) = keys
                .get(hash.as_str())?
                .map(|v| decode::<KeyRecord>(v.value()))
                .transpose()?
            else {
                continue;
            };
            if record.last_used_at.is_some_and(|stored| stored >= *at) {
                continue;
            }
            record.last_used_at = Some(*at);
            keys.insert(hash.as_str(), encode(&record)?.as_slice())?;
        }
        Ok(())
    }

    /// Appends `audit` to the audit log under the next audit id (its own `id` is ignored).
    pub(super) fn record_audit(&mut self, audit: &AuditEntry) -> Result<(), StoreError> {
        let id = self.sequences.get(SEQ_AUDIT)?.map_or(1, |v| v.value());
        self.sequences.insert(SEQ_AUDIT, id + 1)?;
        let entry = AuditEntry {
            id,
            ..audit.clone()
        };
        self.txn
            .open_table(AUDIT)?
            .insert(id, encode(&entry)?.as_slice())?;
        Ok(())
    }

    /// Stores `product` under its sku; whether it is new.
    pub(super) fn put_product(&mut self, product: &Product) -> Result<bool, StoreError> {
        let mut products = self.txn.open_table(PRODUCTS)?;
        let previous = products.insert(product.sku.as_str(), encode(product)?.as_slice())?;
        Ok(previous.is_none())
    }

    fn key_hash(&self, id: &KeyId) -> Result<Option<String>, StoreError> {
        let ids = self.txn.open_table(KEY_IDS)?;
        let hash = ids.get(id.as_str())?.map(|v| v.value().to_owned());
        Ok(hash)
    }
}
