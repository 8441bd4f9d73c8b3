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
