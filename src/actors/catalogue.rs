//! The catalogue through the handle: products are written by the store writer (with the
//! admin action, in one commit) and read from the store. No actor of their own: a product
//! has no behaviour to serialise, and a PUT replaces it whole.

use super::{Actors, CommandError};
use crate::auth::AuditEntry;
use crate::domain::catalogue::{Product, Sku};
use crate::store::PutProduct;

impl Actors {
    /// Stores `product` (made or replaced) with `audit`; whether it is new.
    pub async fn put_product(
        &self,
        product: Product,
        audit: AuditEntry,
    ) -> Result<bool, CommandError> {
        self.writer
            .write(PutProduct { product, audit })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "a product was not stored");
                CommandError::Unavailable
            })
    }

    pub async fn product(&self, sku: Sku) -> Result<Product, CommandError> {
        self.query(self.store.product(&sku))
            .await?
            .ok_or(CommandError::NotFound)
    }

    /// Active products after `after`, by sku; and whether more follow.
    pub async fn active_products(
        &self,
        after: Option<Sku>,
        limit: usize,
    ) -> Result<(Vec<Product>, bool), CommandError> {
        self.query(self.store.active_products(after.as_ref(), limit))
            .await
    }
}
