//! Orders, shipments and the saga's pending steps, as stored.

use super::{Page, fetch, page};
use crate::domain::order::{SagaStep, StoredOrder};
use crate::domain::shipment::ShipmentStatus;
use crate::domain::{CustomerId, OrderId, Shipment, ShipmentId};
use crate::store::tables::*;
use crate::store::{Redb, StoreError};
use redb::ReadableTable;

impl Redb {
    pub fn order(&self, id: OrderId) -> Result<Option<StoredOrder>, StoreError> {
        self.get(ORDERS, id.0)
    }

    /// A customer's orders with ids above `after`.
    pub fn orders_of(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<StoredOrder>, StoreError> {
        self.customer_page(OF_ORDERS, ORDERS, customer, after, limit)
    }

    pub fn shipment(&self, id: ShipmentId) -> Result<Option<Shipment>, StoreError> {
        self.get(SHIPMENTS, id.0)
    }

    /// The shipment of an order, once it has one.
    pub fn shipment_of_order(&self, order: OrderId) -> Result<Option<ShipmentId>, StoreError> {
        let txn = self.read()?;
        let index = txn.open_table(SHIPMENT_OF_ORDER)?;
        Ok(index.get(order.0)?.map(|v| ShipmentId(v.value())))
    }

    /// Shipments with ids above `after`, of one status or of any.
    pub fn shipments(
        &self,
        status: Option<ShipmentStatus>,
        after: u64,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let txn = self.read()?;
        let rows = txn.open_table(SHIPMENTS)?;
        match status {
            Some(status) => {
                let index = txn.open_table(SHIPMENTS_BY_STATUS)?;
                let code = status.code();
                let range = (code, after.saturating_add(1))..=(code, u64::MAX);
                let ids = index.range(range)?.map(|r| r.map(|(k, _)| k.value().1));
                page(ids, limit, |id| fetch(&rows, id))
            }
            None => {
                let ids = rows
                    .range(after.saturating_add(1)..)?
                    .map(|r| r.map(|(k, _)| k.value()));
                page(ids, limit, |id| fetch(&rows, id))
            }
        }
    }

    /// How many shipments have each status, in the order pending, shipped, cancelled.
    pub fn shipment_counts(&self) -> Result<[u64; 3], StoreError> {
        let txn = self.read()?;
        let index = txn.open_table(SHIPMENTS_BY_STATUS)?;
        let mut counts = [0; 3];
        for status in [
            ShipmentStatus::Pending,
            ShipmentStatus::Shipped,
            ShipmentStatus::Cancelled,
        ] {
            let code = status.code();
            counts[code as usize] = index.range((code, 0)..=(code, u64::MAX))?.count() as u64;
        }
        Ok(counts)
    }

    /// The saga's steps still to carry out, by order.
    pub fn saga_steps(&self) -> Result<Vec<(OrderId, SagaStep)>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(SAGA_STEPS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (order, code) = row?.0.value();
            if let Some(step) = SagaStep::from_code(code) {
                out.push((OrderId(order), step));
            }
        }
        Ok(out)
    }
}
