//! Reads of keys, the audit log and the catalogue.

use crate::auth::{AuditEntry, KeyRecord};
use crate::domain::catalogue::{Product, Sku};
use crate::store::Page;
use crate::store::postgres::record::{decode, one_more_than};
use crate::store::postgres::{PgError, Postgres};

impl Postgres {
    /// Every key ever made, revoked ones included, by hash.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>, PgError> {
        self.records("SELECT record FROM api_keys ORDER BY hash", &[])
            .await
    }

    /// The key whose hash is `hash`.
    pub async fn api_key(&self, hash: &str) -> Result<Option<KeyRecord>, PgError> {
        self.record("SELECT record FROM api_keys WHERE hash = $1", &[&hash])
            .await
    }

    /// A product, active or not.
    pub async fn product(&self, sku: &Sku) -> Result<Option<Product>, PgError> {
        let sql = "SELECT record FROM products WHERE sku = $1";
        self.record(sql, &[&sku.as_str()]).await
    }

    /// Active products with skus after `after`, by sku, at most `limit`; and whether more
    /// follow.
    pub async fn active_products(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<(Vec<Product>, bool), PgError> {
        let sql = "SELECT record FROM products
                   WHERE active AND ($1::text IS NULL OR sku > $1) ORDER BY sku LIMIT $2";
        let after = after.map(Sku::as_str);
        let mut items: Vec<Product> = self.records(sql, &[&after, &one_more_than(limit)]).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok((items, more))
    }

    /// Audit entries with ids above `after`, oldest first.
    pub async fn audit(&self, after: u64, limit: usize) -> Result<Page<AuditEntry>, PgError> {
        let sql = "SELECT id, record FROM audit WHERE id > $1 ORDER BY id LIMIT $2";
        // The id is the row's (the record keeps the entry as its command gave it).
        self.page_with(sql, &[], after, limit, |id, record| {
            Ok(AuditEntry {
                id,
                ..decode(record)?
            })
        })
        .await
    }
}
