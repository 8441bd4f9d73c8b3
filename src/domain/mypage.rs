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
mod tests {
    use super::*;
    use crate::domain::{Brand, Kind, MaskedAttrs, PaymentId, PaymethodId, Timestamp};

    fn alice() -> CustomerId {
        CustomerId::parse("alice").unwrap()
    }

    fn method(id: u64, version: u64, last4: &str) -> PaymentMethod {
        PaymentMethod {
            id: PaymethodId(id),
            customer_id: alice(),
            kind: Kind::Card,
            brand: Some(Brand::Visa),
            last4: last4.into(),
            request_id: None,
            version,
            verification_payment_id: PaymentId(id * 10 + version),
            created_at: Timestamp(1),
            updated_at: Timestamp(version as i64),
        }
    }

    fn event(position: u64, kind: PaymethodEvent) -> Event {
        let (id, version) = match &kind {
            PaymethodEvent::Registered { method } | PaymethodEvent::Changed { method, .. } => {
                (method.id, method.version)
            }
            PaymethodEvent::Removed { .. } => (PaymethodId(1), 3),
        };
        Event {
            position: Position(position),
            aggregate_id: id.0,
            customer_id: alice(),
            version,
            recorded_at: Timestamp(position as i64),
            payload: Payload::Paymethod(kind),
        }
    }

    #[test]
    fn the_view_follows_registrations_changes_and_removals() {
        let attrs = |last4: &str| MaskedAttrs {
            kind: Kind::Card,
            brand: Some(Brand::Visa),
            last4: last4.into(),
        };
        let log = [
            event(
                1,
                PaymethodEvent::Registered {
                    method: method(2, 1, "1111"),
                },
            ),
            event(
                2,
                PaymethodEvent::Registered {
                    method: method(1, 1, "4242"),
                },
            ),
            event(
                3,
                PaymethodEvent::Changed {
                    previous: attrs("4242"),
                    method: method(1, 2, "4444"),
                },
            ),
            event(
                4,
                PaymethodEvent::Removed {
                    attrs: attrs("4444"),
                },
            ),
        ];
        let mut view = Mypage::empty(alice());
        let mut changes = Vec::new();
        for e in &log[..3] {
            view.apply(e, &mut changes);
        }
        assert_eq!(
            view.methods,
            vec![method(1, 2, "4444"), method(2, 1, "1111")]
        );
        changes.clear();
        view.apply(&log[3], &mut changes);
        assert_eq!(view.methods, vec![method(2, 1, "1111")]);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0], ViewChange::DropMethod(alice(), PaymethodId(1)));
        let ids: Vec<u64> = view.recent.iter().map(|m| m.id.0).collect();
        assert_eq!(ids, [4, 3, 2, 1]);
        assert_eq!(view.last_position, Position(4));

        let before = view.clone();
        changes.clear();
        view.apply(&log[1], &mut changes);
        assert_eq!(view, before, "an event applied again changes nothing");
        assert!(changes.is_empty());
        let rebuilt = Mypage::from_rows(
            alice(),
            view.methods.clone(),
            view.recent.clone(),
            view.orders.clone(),
        );
        assert_eq!(rebuilt, view);
    }

    #[test]
    fn only_the_newest_messages_are_kept() {
        let mut view = Mypage::empty(alice());
        let mut changes = Vec::new();
        for p in 1..=(RECENT_MESSAGES as u64 + 5) {
            view.apply(
                &event(
                    p,
                    PaymethodEvent::Changed {
                        previous: method(1, 1, "4242").attrs(),
                        method: method(1, p, "4242"),
                    },
                ),
                &mut changes,
            );
        }
        assert_eq!(view.recent.len(), RECENT_MESSAGES);
        let dropped = changes
            .iter()
            .filter(|c| matches!(c, ViewChange::DropMessage(..)))
            .count();
        assert_eq!(dropped, 5, "the five oldest messages leave the stored view");
        assert_eq!(view.recent[0].id.0, RECENT_MESSAGES as u64 + 5);
        assert_eq!(view.methods.len(), 1);
    }

    fn an_order(id: u64, status: crate::domain::order::OrderStatus) -> Order {
        use crate::domain::order::Address;
        Order {
            id: OrderId(id),
            customer_id: alice(),
            paymethod_id: PaymethodId(1),
            status,
            items: Vec::new(),
            total: 19_000,
            shipping_address: Address::seoul(),
            payment_id: PaymentId(1),
            refund_payment_id: None,
            cancellation: None,
            version: 1,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn at(position: u64, aggregate: u64, payload: Payload) -> Event {
        Event {
            position: Position(position),
            aggregate_id: aggregate,
            customer_id: alice(),
            version: 1,
            recorded_at: Timestamp(position as i64),
            payload,
        }
    }

    #[test]
    fn orders_show_their_last_state_and_shipment_newest_first_and_only_the_newest_are_kept() {
        use crate::domain::OrderEvent;
        use crate::domain::order::OrderStatus;
        use crate::domain::shipment::{Shipment, ShipmentStatus};
        let mut view = Mypage::empty(alice());
        let mut changes = Vec::new();
        let mut position = 0;
        for id in 1..=RECENT_ORDERS as u64 + 1 {
            position += 1;
            let placed = OrderEvent::Placed {
                order: an_order(id, OrderStatus::Placed),
            };
            view.apply(&at(position, id, Payload::Order(placed)), &mut changes);
        }
        assert_eq!(view.orders.len(), RECENT_ORDERS);
        assert_eq!(
            view.orders[0].order.id,
            OrderId(RECENT_ORDERS as u64 + 1),
            "newest first"
        );
        assert!(changes.contains(&ViewChange::DropOrder(alice(), OrderId(1))));
        assert_eq!(
            view.recent.len(),
            RECENT_MESSAGES,
            "each placement has its message"
        );

        // Order 5's shipment, made cancelled by the saga, then the order cancelled.
        let shipment = Shipment {
            id: crate::domain::ShipmentId(9),
            order_id: OrderId(5),
            customer_id: alice(),
            status: ShipmentStatus::Cancelled,
            items: Vec::new(),
            shipping_address: an_order(5, OrderStatus::Placed).shipping_address,
            carrier: None,
            tracking_number: None,
            version: 1,
            created_at: Timestamp(0),
            shipped_at: None,
            cancelled_at: Some(Timestamp(0)),
        };
        let messages_before = view.recent.clone();
        position += 1;
        let cancelled_shipment = Payload::Shipment(ShipmentEvent::Cancelled { shipment });
        view.apply(&at(position, 9, cancelled_shipment), &mut changes);
        assert_eq!(
            view.recent, messages_before,
            "a shipment's event has no message"
        );
        position += 1;
        let cancelled = OrderEvent::Cancelled {
            order: an_order(5, OrderStatus::Cancelled),
            refunded: 19_000,
        };
        view.apply(&at(position, 5, Payload::Order(cancelled)), &mut changes);
        let row = view
            .orders
            .iter()
            .find(|o| o.order.id == OrderId(5))
            .unwrap();
        assert_eq!(row.order.status, OrderStatus::Cancelled);
        assert_eq!(row.shipment_id, Some(crate::domain::ShipmentId(9)));
        assert_eq!(view.recent[0].kind, "OrderCancelled");

        let rebuilt = Mypage::from_rows(
            alice(),
            view.methods.clone(),
            view.recent.clone(),
            view.orders.clone(),
        );
        assert_eq!(rebuilt, view);
    }
}
