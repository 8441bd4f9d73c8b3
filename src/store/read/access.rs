//! Reads of keys, the audit log and the catalogue.

use super::{Page, fetch, page};
use crate::auth::{AuditEntry, KeyRecord};
use crate::domain::catalogue::{Product, Sku};
use crate::store::codec::decode;
use crate::store::tables::{API_KEYS, AUDIT, PRODUCTS};
use crate::store::{Redb, StoreError};
use redb::ReadableTable;

impl Redb {
    /// Every key ever made, revoked ones included (`Keys` holds them all in memory).
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(API_KEYS)?;
        keys.iter()?
            .map(|row| decode(row?.1.value()))
            .collect::<Result<_, _>>()
    }

    /// A product, active or not.
    pub fn api_key(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(API_KEYS)?;
        keys.get(hash)?.map(|v| decode(v.value())).transpose()
    }

    pub fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        let txn = self.read()?;
        let products = txn.open_table(PRODUCTS)?;
        products
            .get(sku.as_str())?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Active products with skus after `after`, by sku, at most `limit`; and whether more
    /// follow.
    pub fn active_products(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<(Vec<Product>, bool), StoreError> {
        use std::ops::Bound;
        let txn = self.read()?;
        let products = txn.open_table(PRODUCTS)?;
        let start = after.map_or(Bound::Unbounded, |s| Bound::Excluded(s.as_str()));
        let mut items = Vec::new();
        for row in products.range::<&str>((start, Bound::Unbounded))? {
            let product: Product = decode(row?.1.value())?;
            if !product.active {
                continue;
            }
            if items.len() == limit {
                return Ok((items, true));
            }
            items.push(product);
        }
        Ok((items, false))
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
