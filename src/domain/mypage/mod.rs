//! The mypage view (the seed's CQRS read model): a customer's payment methods and newest
//! messages, as a fold of the event log. Nothing here asks an aggregate; [`Mypage::apply`] is
//! the whole definition of the view, so a rebuild from the first event gives the same result.

use super::message::Message;
use super::{
    CustomerId, Event, MessageId, Order, OrderId, Payload, PaymentMethod, PaymethodEvent,
    PaymethodId, Position, ShipmentEvent, ShipmentId,
};
use serde::{Deserialize, Serialize};

/// How many messages the view keeps, newest first.
pub const RECENT_MESSAGES: usize = 20;
/// How many orders the view keeps, newest first.
pub const RECENT_ORDERS: usize = 20;

/// An order as the view shows it: the order as its last event carried it, its shipment once
/// one exists, and the position of the last event that changed this row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub order: Order,
    pub shipment_id: Option<ShipmentId>,
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mypage {
    pub customer_id: CustomerId,
    /// The customer's current methods, by id.
    pub methods: Vec<PaymentMethod>,
    /// The messages of the customer's newest events, newest first, as created: their delivery
    /// state is the notifier's and is read beside the view, not folded into it.
    pub recent: Vec<Message>,
    /// The customer's newest orders, newest first.
    pub orders: Vec<OrderView>,
    /// The position of the last event of this customer that the view has applied.
    pub last_position: Position,
}

impl Mypage {
    pub fn empty(customer_id: CustomerId) -> Self {
        Self {
            customer_id,
            methods: Vec::new(),
            recent: Vec::new(),
            orders: Vec::new(),
            last_position: Position(0),
        }
    }

    /// Rebuilds a view from its stored rows (methods by id, messages and orders newest
    /// first). Every event of a customer leaves a message or changes an order row, so the
    /// newest of them is the last event applied.
    pub fn from_rows(
        customer_id: CustomerId,
        methods: Vec<PaymentMethod>,
        recent: Vec<Message>,
        orders: Vec<OrderView>,
    ) -> Self {
        let newest_message = recent.first().map_or(Position(0), |m| m.event_id);
        let newest_order = orders.iter().map(|o| o.position).max();
        let last_position = newest_message.max(newest_order.unwrap_or(Position(0)));
        Self {
            customer_id,
            methods,
            recent,
            orders,
            last_position,
        }
    }

    /// Applies one of this customer's events and says which stored rows change. An event at
    /// or before `last_position` was applied already and changes nothing, so a redelivery
    /// is harmless.
    pub fn apply(&mut self, event: &Event, changes: &mut Vec<ViewChange>) {
        if event.position <= self.last_position || event.customer_id != self.customer_id {
            return;
        }
        match &event.payload {
            Payload::Paymethod(e) => {
                self.apply_paymethod(PaymethodId(event.aggregate_id), e, changes)
            }
            Payload::Order(e) => self.put_order(e.order(), None, event.position, changes),
            // An order's shipment, made pending by shipping or cancelled by the saga.
            Payload::Shipment(
                e @ (ShipmentEvent::Created { .. } | ShipmentEvent::Cancelled { .. }),
            ) => {
                let shipment = e.shipment();
                let order = self.orders.iter().find(|o| o.order.id == shipment.order_id);
                if let Some(view) = order.filter(|o| o.shipment_id.is_none()) {
                    let order = view.order.clone();
                    self.put_order(&order, Some(shipment.id), event.position, changes);
                }
            }
            Payload::Shipment(ShipmentEvent::Shipped { .. }) => {}
        }
        if let Some(message) = Message::for_event(event) {
            changes.push(ViewChange::PutMessage(message.clone()));
            self.recent.insert(0, message);
            for dropped in self.recent.drain(RECENT_MESSAGES.min(self.recent.len())..) {
                changes.push(ViewChange::DropMessage(
                    self.customer_id.clone(),
                    dropped.id,
                ));
            }
        }
        self.last_position = event.position;
    }

    /// The orders part of the fold: `order` as an event carried it (keeping the shipment the
    /// row knows of, unless `shipment` names one), newest first, the oldest past the limit
    /// dropped.
    fn put_order(
        &mut self,
        order: &Order,
        shipment: Option<ShipmentId>,
        position: Position,
        changes: &mut Vec<ViewChange>,
    ) {
        let slot = self.orders.binary_search_by(|o| order.id.cmp(&o.order.id));
        let view = match slot {
            Ok(i) => {
                let row = &mut self.orders[i];
                row.order = order.clone();
                row.shipment_id = shipment.or(row.shipment_id);
                row.position = position;
                row.clone()
            }
            Err(i) if i < RECENT_ORDERS => {
                let row = OrderView {
                    order: order.clone(),
                    shipment_id: shipment,
                    position,
                };
                self.orders.insert(i, row.clone());
                row
            }
            // Older than every order the view keeps.
            Err(_) => return,
        };
        changes.push(ViewChange::PutOrder(
            self.customer_id.clone(),
            Box::new(view),
        ));
        for dropped in self.orders.drain(RECENT_ORDERS.min(self.orders.len())..) {
            changes.push(ViewChange::DropOrder(
                self.customer_id.clone(),
                dropped.order.id,
            ));
        }
    }

    /// The methods part of the fold: the method as the event carries it, or its removal.
    fn apply_paymethod(
        &mut self,
        id: PaymethodId,
        event: &PaymethodEvent,
        changes: &mut Vec<ViewChange>,
    ) {
        let slot = self.methods.binary_search_by_key(&id, |m| m.id);
        match (event, slot) {
            (
                PaymethodEvent::Registered { method } | PaymethodEvent::Changed { method, .. },
                found,
            ) => {
                match found {
                    Ok(i) => self.methods[i] = method.clone(),
                    Err(i) => self.methods.insert(i, method.clone()),
                }
                changes.push(ViewChange::PutMethod(method.clone()));
            }
            (PaymethodEvent::Removed { .. }, Ok(i)) => {
                self.methods.remove(i);
                changes.push(ViewChange::DropMethod(self.customer_id.clone(), id));
            }
            (PaymethodEvent::Removed { .. }, Err(_)) => {}
        }
    }
}

/// One stored row of a view that an event changes; the store keeps views as rows so that an
/// event writes a few small rows, not its customer's whole view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewChange {
    PutMethod(PaymentMethod),
    DropMethod(CustomerId, PaymethodId),
    PutMessage(Message),
    DropMessage(CustomerId, MessageId),
    PutOrder(CustomerId, Box<OrderView>),
    DropOrder(CustomerId, OrderId),
}

#[cfg(test)]
mod tests;
