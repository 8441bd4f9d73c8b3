//! The shipment side of a batch: one shipment per order (made pending by the shipping actor,
//! or cancelled by the saga when the order was cancelled first), and a shipment's later
//! states. One per order holds across replicas: the row's order is unique.

use super::aggregate::{Next, SAVED_SHIPMENTS, Save};
use super::{Applied, Batch, EventRow, Params, drawn, drawn_position};
use crate::domain::shipment::{ShipmentEvent, ShipmentStatus};
use crate::domain::{Order, Payload, Position, Shipment, ShipmentId, Timestamp};
use crate::store::command::{Outcome, Rejected, SaveShipment};
use crate::store::postgres::PgError;
use crate::store::postgres::record::{encode, int};

/// Whether order `$1` has a shipment; if not, the new one's id and its event's position.
const SHIPMENT_CHECKS: &str = "WITH c AS MATERIALIZED (
         SELECT EXISTS (SELECT FROM shipments WHERE order_id = $1) AS made)
     SELECT made,
         CASE WHEN NOT made THEN nextval('shipment_ids') END,
         CASE WHEN NOT made THEN nextval('event_positions') END
     FROM c";
const INSERT_SHIPMENT: &str = "INSERT INTO shipments (id, order_id, status, version, record)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";

pub(super) const STATEMENTS: &[&str] = &[SHIPMENT_CHECKS, INSERT_SHIPMENT];

impl Batch<'_, '_> {
    /// A pending shipment for `order`, unless it has one.
    pub(super) async fn create_shipment(&self, order: &Order) -> Result<(), PgError> {
        let pending = |id, now| Shipment::for_order(id, order, now);
        self.add_shipment(order, pending, |shipment| ShipmentEvent::Created {
            shipment,
        })
        .await?;
        Ok(())
    }

    /// A cancelled shipment for `order`, which has none yet.
    pub(super) async fn cancel_missing_shipment(&self, order: &Order) -> Applied {
        let cancelled = |id, now| Shipment {
            status: ShipmentStatus::Cancelled,
            cancelled_at: Some(now),
            ..Shipment::for_order(id, order, now)
        };
        let added = self
            .add_shipment(order, cancelled, |shipment| ShipmentEvent::Cancelled {
                shipment,
            })
            .await?;
        Ok(match added {
            Some(position) => Ok(Outcome {
                position: Some(position),
                ..Outcome::default()
            }),
            None => Err(Rejected::VersionConflict),
        })
    }

    /// Makes the shipment `make` makes (of its drawn id, now) the one of `order`, with the
    /// event `event` makes of it; the event's position, or `None` if the order has a
    /// shipment (here, or made meanwhile by another replica).
    async fn add_shipment(
        &self,
        order: &Order,
        make: impl FnOnce(ShipmentId, Timestamp) -> Shipment,
        event: fn(Shipment) -> ShipmentEvent,
    ) -> Result<Option<Position>, PgError> {
        let order_id = int(order.id.0)?;
        let row = self.query_one(SHIPMENT_CHECKS, &[&order_id]).await?;
        if row.get::<_, bool>(0) {
            return Ok(None);
        }
        let (id, position) = (ShipmentId(drawn(&row, 1)?), drawn_position(&row, 2)?);
        let shipment = make(id, Timestamp::now());
        let payload = Payload::Shipment(event(shipment.clone()));
        let new = EventRow {
            position,
            aggregate: id.0,
            customer: &shipment.customer_id,
            version: shipment.version,
            payload: &payload,
        };
        let (id, version, record) = (int(id.0)?, int(shipment.version)?, encode(&shipment)?);
        let status = i16::from(shipment.status.code());
        let params: Params = &[&id, &order_id, &status, &version, &record];
        let (_, inserted, appended) = tokio::try_join!(
            self.savepoint(),
            self.execute(INSERT_SHIPMENT, params),
            self.append(&new),
        )?;
        let races = [(inserted == 0 || !appended, Rejected::VersionConflict)];
        if self.lost(&races).await?.is_some() {
            return Ok(None);
        }
        Ok(Some(position))
    }

    /// The shipment's next state, if the stored one is still at the expected version.
    pub(super) async fn save_shipment(&self, save: &SaveShipment) -> Applied {
        let shipment = &save.shipment;
        let saved = Save {
            statements: &SAVED_SHIPMENTS,
            id: shipment.id.0,
            expected: save.expected_version,
            intent: None,
            payment: false,
            event: true,
        };
        self.save(saved, |_, _| {
            let payload = Payload::Shipment(save.change.event(shipment.clone()));
            Ok(Next {
                column: i16::from(shipment.status.code()),
                version: shipment.version,
                record: encode(shipment)?,
                payment: None,
                event: Some((shipment.customer_id.clone(), payload)),
            })
        })
        .await
    }
}
