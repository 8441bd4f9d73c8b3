//! Orders, shipments and the saga's pending steps, as stored.

use crate::domain::order::{SagaStep, StoredOrder};
use crate::domain::shipment::ShipmentStatus;
use crate::domain::{CustomerId, OrderId, Shipment, ShipmentId};
use crate::store::Page;
use crate::store::postgres::record::{int, uint};
use crate::store::postgres::{PgError, Postgres};

impl Postgres {
    pub async fn order(&self, id: OrderId) -> Result<Option<StoredOrder>, PgError> {
        let sql = "SELECT record FROM orders WHERE id = $1";
        self.record(sql, &[&int(id.0)?]).await
    }

    /// A customer's orders with ids above `after`.
    pub async fn orders_of(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<StoredOrder>, PgError> {
        let sql = "SELECT id, record FROM orders WHERE customer = $1 AND id > $2
                   ORDER BY id LIMIT $3";
        self.page(sql, &[&customer.as_str()], after, limit).await
    }

    pub async fn shipment(&self, id: ShipmentId) -> Result<Option<Shipment>, PgError> {
        let sql = "SELECT record FROM shipments WHERE id = $1";
        self.record(sql, &[&int(id.0)?]).await
    }

    /// The shipment of an order, once it has one.
    pub async fn shipment_of_order(&self, order: OrderId) -> Result<Option<ShipmentId>, PgError> {
        let sql = "SELECT id FROM shipments WHERE order_id = $1";
        match self.row(sql, &[&int(order.0)?]).await? {
            Some(row) => Ok(Some(ShipmentId(uint(row.get(0))?))),
            None => Ok(None),
        }
    }

    /// Shipments with ids above `after`, of one status or of any.
    pub async fn shipments(
        &self,
        status: Option<ShipmentStatus>,
        after: u64,
        limit: usize,
    ) -> Result<Page<Shipment>, PgError> {
        match status {
            Some(status) => {
                let sql = "SELECT id, record FROM shipments WHERE status = $1 AND id > $2
                           ORDER BY id LIMIT $3";
                let code = i16::from(status.code());
                self.page(sql, &[&code], after, limit).await
            }
            None => {
                let sql = "SELECT id, record FROM shipments WHERE id > $1 ORDER BY id LIMIT $2";
                self.page(sql, &[], after, limit).await
            }
        }
    }

    /// How many shipments have each status, in the order pending, shipped, cancelled.
    pub async fn shipment_counts(&self) -> Result<[u64; 3], PgError> {
        let sql = "SELECT status, count(*) FROM shipments GROUP BY status";
        let mut counts = [0; 3];
        for row in self.rows(sql, &[]).await? {
            let status = usize::try_from(row.get::<_, i16>(0)).ok();
            if let Some(count) = status.and_then(|s| counts.get_mut(s)) {
                *count = uint(row.get(1))?;
            }
        }
        Ok(counts)
    }

    /// The saga's steps still to carry out, by order.
    pub async fn saga_steps(&self) -> Result<Vec<(OrderId, SagaStep)>, PgError> {
        let sql = "SELECT order_id, step FROM saga_steps ORDER BY order_id, step";
        let mut steps = Vec::new();
        for row in self.rows(sql, &[]).await? {
            let code = u8::try_from(row.get::<_, i16>(1)).ok();
            if let Some(step) = code.and_then(SagaStep::from_code) {
                steps.push((OrderId(uint(row.get(0))?), step));
            }
        }
        Ok(steps)
    }
}
