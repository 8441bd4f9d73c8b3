//! The event log's envelope: what happened to which aggregate (its kind and id), whose it is,
//! the aggregate's version after it and where the global log recorded it. The payload is
//! owned by the aggregate's kind; the log, its readers and the store treat every kind alike.

use super::order::OrderEvent;
use super::paymethod::PaymethodEvent;
use super::shipment::ShipmentEvent;
use super::{CustomerId, Position, Timestamp};
use serde::{Deserialize, Serialize};

/// One entry of the global event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub position: Position,
    /// The aggregate's id within its kind (the payload names the kind).
    pub aggregate_id: u64,
    pub customer_id: CustomerId,
    /// The aggregate's version after this event (a removal counts as one more change).
    pub version: u64,
    pub recorded_at: Timestamp,
    pub payload: Payload,
}

/// What happened, one variant per aggregate kind: the variant names the kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Paymethod(PaymethodEvent),
    Order(OrderEvent),
    Shipment(ShipmentEvent),
}

impl Event {
    /// The event's type name, e.g. `PaymentMethodRegistered`.
    pub fn name(&self) -> &'static str {
        match &self.payload {
            Payload::Paymethod(e) => e.name(),
            Payload::Order(e) => e.name(),
            Payload::Shipment(e) => e.name(),
        }
    }
}
