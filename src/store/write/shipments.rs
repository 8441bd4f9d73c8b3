//! The shipment side of a write transaction: one shipment per order (made pending by the
//! shipping actor, or cancelled by the saga when the order was cancelled first), and a
//! shipment's later states.

use super::{StoreError, Tables};
use crate::domain::shipment::{ShipmentEvent, ShipmentStatus};
use crate::domain::{Order, Payload, Shipment, ShipmentId, Timestamp};
use crate::store::codec::{decode, encode};
use crate::store::command::{Outcome, Rejected, SaveShipment};
use crate::store::tables::{SEQ_SHIPMENT, SHIPMENT_OF_ORDER, SHIPMENTS, SHIPMENTS_BY_STATUS};
use redb::ReadableTable;

type Applied = Result<Result<Outcome, Rejected>, StoreError>;

impl Tables<'_> {
    fn shipment_of_order(&self, order: &Order) -> Result<Option<u64>, StoreError> {
        let index = self.txn.open_table(SHIPMENT_OF_ORDER)?;
        Ok(index.get(order.id.0)?.map(|v| v.value()))
    }

    /// The next shipment id.
    fn next_shipment_id(&mut self) -> Result<ShipmentId, StoreError> {
        let id = self.sequences.get(SEQ_SHIPMENT)?.map_or(1, |v| v.value());
        self.sequences.insert(SEQ_SHIPMENT, id + 1)?;
        Ok(ShipmentId(id))
    }

    /// Stores `shipment` (new or changed) and its status index entry; `before` is the
    /// status it had, for a changed one.
    fn put_shipment(
        &mut self,
        shipment: &Shipment,
        before: Option<ShipmentStatus>,
    ) -> Result<(), StoreError> {
        let id = shipment.id.0;
        self.txn
            .open_table(SHIPMENTS)?
            .insert(id, encode(shipment)?.as_slice())?;
        let mut by_status = self.txn.open_table(SHIPMENTS_BY_STATUS)?;
        if let Some(before) = before {
            by_status.remove((before.code(), id))?;
        }
        by_status.insert((shipment.status.code(), id), ())?;
        Ok(())
    }

    /// Makes `shipment` the one of its order and records `event` about it.
    fn add_shipment(
        &mut self,
        shipment: Shipment,
        event: fn(Shipment) -> ShipmentEvent,
    ) -> Result<Outcome, StoreError> {
        self.txn
            .open_table(SHIPMENT_OF_ORDER)?
            .insert(shipment.order_id.0, shipment.id.0)?;
        self.put_shipment(&shipment, None)?;
        let (id, customer, version) = (
            shipment.id.0,
            shipment.customer_id.clone(),
            shipment.version,
        );
        let payload = Payload::Shipment(event(shipment));
        let position = self.append_event(id, &customer, version, payload)?;
        Ok(Outcome {
            position: Some(position),
            ..Outcome::default()
        })
    }

    /// A pending shipment for `order`, unless it has one.
    pub(super) fn create_shipment(&mut self, order: &Order) -> Result<(), StoreError> {
        if self.shipment_of_order(order)?.is_some() {
            return Ok(());
        }
        let id = self.next_shipment_id()?;
        let shipment = Shipment::for_order(id, order, Timestamp::now());
        self.add_shipment(shipment, |shipment| ShipmentEvent::Created { shipment })?;
        Ok(())
    }

    /// A cancelled shipment for `order`, which has none yet.
    pub(super) fn cancel_missing_shipment(&mut self, order: &Order) -> Applied {
        if self.shipment_of_order(order)?.is_some() {
            return Ok(Err(Rejected::VersionConflict));
        }
        let id = self.next_shipment_id()?;
        let now = Timestamp::now();
        let shipment = Shipment {
            status: ShipmentStatus::Cancelled,
            cancelled_at: Some(now),
            ..Shipment::for_order(id, order, now)
        };
        let outcome =
            self.add_shipment(shipment, |shipment| ShipmentEvent::Cancelled { shipment })?;
        Ok(Ok(outcome))
    }

    /// The shipment's next state, if the stored one is still at `expected_version`.
    pub(super) fn save_shipment(&mut self, save: &SaveShipment) -> Applied {
        let id = save.shipment.id.0;
        let current: Option<Shipment> = self
            .txn
            .open_table(SHIPMENTS)?
            .get(id)?
            .map(|v| decode(v.value()))
            .transpose()?;
        let before = match current {
            Some(current) if current.version == save.expected_version => current.status,
            _ => return Ok(Err(Rejected::VersionConflict)),
        };
        self.put_shipment(&save.shipment, Some(before))?;
        let shipment = save.shipment.clone();
        let (customer, version) = (shipment.customer_id.clone(), shipment.version);
        let payload = Payload::Shipment(save.change.event(shipment));
        let position = self.append_event(id, &customer, version, payload)?;
        Ok(Ok(Outcome {
            position: Some(position),
            ..Outcome::default()
        }))
    }
}
