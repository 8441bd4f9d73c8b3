//! The handle's side of shipments: the seller ships, anyone entitled reads, an admin pauses
//! or resumes the shipping actor.

use super::{ShipmentCommand, ShipmentError};
use crate::actors::command::CommandError;
use crate::actors::shipping::ShippingMessage;
use crate::actors::{Actors, ask};
use crate::auth::AuditEntry;
use crate::domain::shipment::{Dispatch, ShipmentStatus};
use crate::domain::{Shipment, ShipmentId};
use crate::store::Page;
use std::time::Duration;

impl Actors {
    /// Ships shipment `id`: 200 with it shipped (already shipped: as it is), 409 if cancelled.
    pub async fn ship(&self, id: ShipmentId, dispatch: Dispatch) -> Result<Shipment, CommandError> {
        Ok(self
            .shipments
            .command(Some(id), |r| ShipmentCommand::Ship(dispatch, r))
            .await?)
    }

    /// Lets a quarantined shipment try again; false if it was not quarantined.
    pub async fn release_shipment(&self, id: ShipmentId) -> Result<bool, CommandError> {
        Ok(self.shipments.release(id).await?)
    }

    pub async fn shipment(&self, id: ShipmentId) -> Result<Shipment, CommandError> {
        self.query(self.store.shipment(id))
            .await?
            .ok_or(CommandError::NotFound)
    }

    pub async fn shipments(
        &self,
        status: Option<ShipmentStatus>,
        after: u64,
        limit: usize,
    ) -> Result<Page<Shipment>, CommandError> {
        self.query(self.store.shipments(status, after, limit)).await
    }
}

impl Actors {
    /// Pauses (`true`) or resumes the shipping actor, recording `audit` with it. Orders and
    /// cancellations are taken either way; paused, shipments are made later.
    pub async fn set_shipping_paused(
        &self,
        paused: bool,
        audit: AuditEntry,
    ) -> Result<(), CommandError> {
        let shipping = self.shipping.get()?;
        let build = |r| ShippingMessage::Pause(paused, audit, r);
        ask(&shipping, build, Duration::from_secs(15))
            .await?
            .map_err(|e| {
                tracing::error!(error = %e, "shipping's pause was not stored");
                CommandError::Unavailable
            })
    }

    /// Whether shipping is paused (with replicas, as the store has it: another replica may
    /// have paused or resumed it).
    pub async fn shipping_paused(&self) -> Result<bool, CommandError> {
        if self.store.bus_log().is_none() {
            return Ok(*self.shipping_paused.borrow());
        }
        let stored = self
            .query(self.store.meta(crate::store::SHIPPING_PAUSED))
            .await?;
        Ok(stored.is_some_and(|v| v == [1]))
    }
}

impl From<ShipmentError> for CommandError {
    fn from(e: ShipmentError) -> Self {
        Self::Shipment(e)
    }
}
