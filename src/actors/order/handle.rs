//! The handle's side of orders: placing (under an `Idempotency-Key`), cancelling, reading;
//! and the saga's commands.

use super::{Cancelled, OrderCommand, OrderDone, OrderError, Placement};
use crate::actors::command::CommandError;
use crate::actors::{Actors, Answer, payment};
use crate::domain::idempotency::IdempotentOutcome;
use crate::domain::order::StoredOrder;
use crate::domain::{CustomerId, IdempotencyKey, Order, OrderId, ShipmentId};
use crate::store::Page;
use sha2::{Digest, Sha256};

/// An order as read: the order, and its shipment once one exists.
#[derive(Debug, Clone)]
pub struct OrderRead {
    pub order: Order,
    pub shipment_id: Option<ShipmentId>,
}

impl Actors {
    /// Places and pays for an order, honouring an `Idempotency-Key` (see
    /// `Actors::idempotent`): the final outcome (201 or 402) is kept with the key, and a
    /// replayed 201 answers with the order as it is now.
    pub async fn place_order(
        &self,
        mut placement: Placement,
        key: Option<IdempotencyKey>,
    ) -> Answer<OrderDone> {
        let customer = placement.customer_id.clone();
        let fingerprint = fingerprint(&placement);
        let replay = |outcome| self.replay_order(outcome);
        self.idempotent(&customer, key, fingerprint, replay, |claim| async move {
            placement.idempotency = claim;
            self.place_once(placement).await
        })
        .await
    }

    async fn place_once(&self, placement: Placement) -> Result<OrderDone, CommandError> {
        // Every order needs a charge: while the breaker is open, answer at once.
        if let Some(retry_after) = self.breaker.open_remaining() {
            payment::record(payment::CallKind::Charge, "rejected", None);
            super::count_order("payment_unavailable");
            return Err(OrderError::PaymentUnavailable { retry_after }.into());
        }
        let placement = Box::new(placement);
        Ok(self
            .orders
            .command(None, |r| OrderCommand::Place(placement, r))
            .await?)
    }

    /// The stored outcome of a placement under a key: the order as it is now, or the decline.
    async fn replay_order(&self, outcome: IdempotentOutcome) -> Result<OrderDone, CommandError> {
        match outcome {
            IdempotentOutcome::OrderPlaced { order_id, position } => {
                let stored = self.store.order(order_id).await.map_err(|e| {
                    tracing::error!(error = %e, "store read failed");
                    CommandError::Internal
                })?;
                let order = stored.ok_or(CommandError::Internal)?.order;
                Ok(OrderDone { order, position })
            }
            IdempotentOutcome::Declined { payment_id } => Err(OrderError::Declined {
                payment_id,
                code: None,
            }
            .into()),
            // The key was used for a registration (whose fingerprint an order never matches).
            IdempotentOutcome::Registered { .. } => Err(CommandError::IdempotencyMismatch),
        }
    }

    /// Asks to cancel order `id`; `owner` confines it to one customer's orders.
    pub async fn cancel_order(
        &self,
        id: OrderId,
        owner: Option<CustomerId>,
    ) -> Result<Cancelled, CommandError> {
        Ok(self
            .orders
            .command(Some(id), |r| OrderCommand::Cancel(owner, r))
            .await?)
    }

    /// Order `id` as stored; `owner` as for commands (another's is not found).
    pub async fn order(
        &self,
        id: OrderId,
        owner: Option<&CustomerId>,
    ) -> Result<OrderRead, CommandError> {
        let (stored, shipment_id) = self
            .query(async {
                Ok((
                    self.store.order(id).await?,
                    self.store.shipment_of_order(id).await?,
                ))
            })
            .await?;
        match stored {
            Some(s) if owner.is_none_or(|o| *o == s.order.customer_id) => Ok(OrderRead {
                order: s.order,
                shipment_id,
            }),
            _ => Err(CommandError::NotFound),
        }
    }

    /// Lets a quarantined order try again; false if it was not quarantined.
    pub async fn release_order(&self, id: OrderId) -> Result<bool, CommandError> {
        Ok(self.orders.release(id).await?)
    }

    /// The id of an order's shipment, once it has one.
    pub async fn shipment_of_order(&self, id: OrderId) -> Result<Option<u64>, CommandError> {
        let shipment = self.query(self.store.shipment_of_order(id)).await?;
        Ok(shipment.map(|s| s.0))
    }

    /// A customer's orders with ids above `after`.
    pub async fn orders_of(
        &self,
        customer: CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<OrderRead>, CommandError> {
        self.query(async {
            let page = self.store.orders_of(&customer, after, limit).await?;
            let mut items = Vec::with_capacity(page.items.len());
            for StoredOrder { order, .. } in page.items {
                let shipment_id = self.store.shipment_of_order(order.id).await?;
                items.push(OrderRead { order, shipment_id });
            }
            Ok(Page {
                items,
                next_after: page.next_after,
            })
        })
        .await
    }
}

/// What makes two placements the same request: customer, method, lines and address.
fn fingerprint(p: &Placement) -> String {
    let mut hash = Sha256::new();
    let request = (&p.customer_id, p.paymethod_id, &p.lines, &p.address);
    hash.update(postcard::to_stdvec(&request).unwrap_or_default());
    format!("order:{}", hex::encode(hash.finalize()))
}
