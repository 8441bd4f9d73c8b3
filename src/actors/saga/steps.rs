//! Carrying out one saga step, through the aggregate it concerns. Each is idempotent.

use crate::actors::kernel::{AggregateError, Aggregates, WriteError, Writer};
use crate::actors::order::{OrderAggregate, OrderCommand};
use crate::actors::shipment::{CancelOutcome, ShipmentAggregate, ShipmentCommand};
use crate::domain::OrderId;
use crate::domain::order::SagaStep;
use crate::store::{self, Rejected, Store};

#[derive(Clone)]
pub(super) struct Steps {
    pub store: Store,
    pub writer: Writer,
    pub orders: Aggregates<OrderAggregate>,
    pub shipments: Aggregates<ShipmentAggregate>,
}

impl Steps {
    /// Carries out `step` for `order` and, once it is done, removes it from the store; false
    /// if it must be tried again.
    pub async fn carry_out(&self, order: OrderId, step: SagaStep) -> bool {
        let done = match step {
            SagaStep::CancelShipment => self.cancel_shipment(order).await,
            SagaStep::Refund => self.order_command(order, OrderCommand::Refund).await,
            SagaStep::MarkShipped => self.order_command(order, OrderCommand::MarkShipped).await,
        };
        if let Err(why) = &done {
            tracing::debug!(%order, step = step.as_str(), %why, "saga step not done");
            return false;
        }
        let finish = store::FinishSagaStep { order, step };
        match self.writer.write(finish).await {
            Ok(()) => true,
            // Done, but still listed: it runs again (changing nothing) and is removed then.
            Err(_) => false,
        }
    }

    /// Cancels the order's shipment; if the seller shipped it, the order is shipped (its
    /// cancellation refused). An order that has no shipment yet (shipping paused or behind)
    /// gets one made cancelled, so none can ever ship.
    async fn cancel_shipment(&self, order: OrderId) -> Result<(), String> {
        for _ in 0..2 {
            let shipment = self
                .store
                .shipment_of_order(order)
                .await
                .map_err(|e| e.to_string())?;
            let Some(shipment) = shipment else {
                let stored = self.store.order(order).await.map_err(|e| e.to_string())?;
                let Some(stored) = stored else {
                    return Ok(()); // no such order: nothing to cancel
                };
                match self
                    .writer
                    .write(store::CancelMissingShipment {
                        order: stored.order,
                    })
                    .await
                {
                    Ok(_) => return Ok(()),
                    // Shipping made it meanwhile: cancel that one.
                    Err(WriteError::Rejected(Rejected::VersionConflict)) => continue,
                    Err(e) => return Err(e.to_string()),
                }
            };
            let outcome = self
                .shipments
                .command(Some(shipment), ShipmentCommand::Cancel)
                .await
                .map_err(describe)?;
            return match outcome {
                CancelOutcome::Cancelled => Ok(()),
                CancelOutcome::Shipped => {
                    self.order_command(order, OrderCommand::MarkShipped).await
                }
            };
        }
        Err("the order's shipment changed twice while it was being cancelled".into())
    }

    async fn order_command(
        &self,
        order: OrderId,
        command: fn(ractor::RpcReplyPort<crate::actors::order::OrderResult<()>>) -> OrderCommand,
    ) -> Result<(), String> {
        self.orders
            .command(Some(order), command)
            .await
            .map_err(describe)
    }
}

fn describe<E: std::fmt::Display>(e: AggregateError<E>) -> String {
    e.to_string()
}
