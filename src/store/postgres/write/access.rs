//! Keys, the audit log, the catalogue and named settings (changed by admins and sellers
//! only). A key record is changed from what is stored, so it is read locked.

use super::{Batch, Params};
use crate::auth::{AuditEntry, KeyId, KeyRecord};
use crate::domain::Timestamp;
use crate::domain::catalogue::Product;
use crate::store::postgres::PgError;
use crate::store::postgres::record::{decode, encode};
use crate::store::tables::SHIPPING_PAUSED;
use futures_util::future::try_join_all;
use std::collections::BTreeMap;

const PUT_KEY: &str = "INSERT INTO api_keys (hash, record) VALUES ($1, $2)
     ON CONFLICT (hash) DO UPDATE SET record = EXCLUDED.record";
const PUT_KEY_ID: &str = "INSERT INTO key_ids (id, hash) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET hash = EXCLUDED.hash";
const LOCK_KEY_OF_ID: &str = "SELECT k.hash, k.record FROM key_ids i
     JOIN api_keys k ON k.hash = i.hash WHERE i.id = $1 FOR UPDATE OF k";
/// In one order for every batch, so that two batches touching keys do not deadlock.
const LOCK_KEYS: &str =
    "SELECT hash, record FROM api_keys WHERE hash = ANY($1) ORDER BY hash FOR UPDATE";
const UPDATE_KEY: &str = "UPDATE api_keys SET record = $2 WHERE hash = $1";
/// Whether the product is new: a row inserted, not updated, has no `xmax`.
const PUT_PRODUCT: &str = "INSERT INTO products (sku, active, record) VALUES ($1, $2, $3)
     ON CONFLICT (sku) DO UPDATE SET active = EXCLUDED.active, record = EXCLUDED.record
     RETURNING xmax = 0";
const PUT_META: &str = "INSERT INTO meta (name, value) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value";
const DROP_META: &str = "DELETE FROM meta WHERE name = $1";

pub(super) const STATEMENTS: &[&str] = &[
    PUT_KEY,
    PUT_KEY_ID,
    LOCK_KEY_OF_ID,
    LOCK_KEYS,
    UPDATE_KEY,
    PUT_PRODUCT,
    PUT_META,
    DROP_META,
];

impl Batch<'_, '_> {
    /// Stores a new key under its hash, and the admin action that made it.
    pub(super) async fn create_key(
        &self,
        record: &KeyRecord,
        audit: Option<&AuditEntry>,
    ) -> Result<(), PgError> {
        let encoded = encode(record)?;
        let key: Params = &[&record.hash, &encoded];
        let id: Params = &[&record.id.as_str(), &record.hash];
        let audited = async {
            match audit {
                Some(audit) => self.record_audit(audit).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(
            self.execute(PUT_KEY, key),
            self.execute(PUT_KEY_ID, id),
            audited
        )?;
        Ok(())
    }

    /// Marks key `id` revoked at `at` (an unknown or revoked key is left as it is) and
    /// records the action.
    pub(super) async fn revoke_key(
        &self,
        id: &KeyId,
        at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), PgError> {
        let Some(row) = self.query_opt(LOCK_KEY_OF_ID, &[&id.as_str()]).await? else {
            return Ok(());
        };
        let hash: &str = row.get(0);
        let mut record: KeyRecord = decode(row.get(1))?;
        if record.revoked_at.is_some() {
            return Ok(());
        }
        record.revoked_at = Some(at);
        let encoded = encode(&record)?;
        let update: Params = &[&hash, &encoded];
        tokio::try_join!(self.execute(UPDATE_KEY, update), self.record_audit(audit))?;
        Ok(())
    }

    /// Records when keys were last used (never earlier than what is stored).
    pub(super) async fn touch_keys(&self, used: &[(String, Timestamp)]) -> Result<(), PgError> {
        if used.is_empty() {
            return Ok(());
        }
        let hashes: Vec<&str> = used.iter().map(|(hash, _)| hash.as_str()).collect();
        let mut keys = BTreeMap::new();
        for row in self.query(LOCK_KEYS, &[&hashes]).await? {
            let record: KeyRecord = decode(row.get(1))?;
            keys.insert(row.get::<_, String>(0), (record, false));
        }
        for (hash, at) in used {
            let Some((record, touched)) = keys.get_mut(hash) else {
                continue;
            };
            if record.last_used_at.is_some_and(|stored| stored >= *at) {
                continue;
            }
            record.last_used_at = Some(*at);
            *touched = true;
        }
        let updates = keys.iter().filter(|(_, (_, touched))| *touched).map(
            |(hash, (record, _))| async move {
                let encoded = encode(record)?;
                self.execute(UPDATE_KEY, &[hash, &encoded]).await
            },
        );
        try_join_all(updates).await?;
        Ok(())
    }

    /// Stores `product` under its sku, and the admin action; whether it is new.
    pub(super) async fn put_product(
        &self,
        product: &Product,
        audit: &AuditEntry,
    ) -> Result<bool, PgError> {
        let encoded = encode(product)?;
        let params: Params = &[&product.sku.as_str(), &product.active, &encoded];
        let (row, ()) = tokio::try_join!(
            self.query_one(PUT_PRODUCT, params),
            self.record_audit(audit)
        )?;
        Ok(row.get(0))
    }

    /// Keeps a named setting across restarts.
    pub(super) async fn put_meta(&self, name: &str, value: &[u8]) -> Result<(), PgError> {
        self.execute(PUT_META, &[&name, &value]).await?;
        Ok(())
    }

    /// Pauses (a `SHIPPING_PAUSED` entry) or resumes shipping, with the admin action.
    pub(super) async fn set_shipping_paused(
        &self,
        paused: bool,
        audit: &AuditEntry,
    ) -> Result<(), PgError> {
        let setting = async {
            if paused {
                self.put_meta(SHIPPING_PAUSED, &[1]).await
            } else {
                self.execute(DROP_META, &[&SHIPPING_PAUSED]).await.map(drop)
            }
        };
        tokio::try_join!(setting, self.record_audit(audit))?;
        Ok(())
    }
}
