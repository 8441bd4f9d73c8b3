//! The mypage view (the seed's CQRS read model): a customer's payment methods and newest
//! messages, as a fold of the event log. Nothing here asks an aggregate; [`Mypage::apply`] is
//! the whole definition of the view, so a rebuild from the first event gives the same result.

use super::message::Message;
use super::{CustomerId, Event, EventKind, MethodSnapshot, Position};
use serde::{Deserialize, Serialize};

/// How many messages the view keeps, newest first.
pub const RECENT_MESSAGES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mypage {
    pub customer_id: CustomerId,
    /// The customer's current methods, by id.
    pub methods: Vec<MethodSnapshot>,
    /// The messages of the customer's newest events, newest first, as created: their delivery
    /// state is the notifier's and is read beside the view, not folded into it.
    pub recent: Vec<Message>,
    /// The position of the last event of this customer that the view has applied.
    pub last_position: Position,
}

impl Mypage {
    pub fn empty(customer_id: CustomerId) -> Self {
        Self {
            customer_id,
            methods: Vec::new(),
            recent: Vec::new(),
            last_position: Position(0),
        }
    }

    /// Applies one of this customer's events. An event at or before `last_position` was
    /// applied already and changes nothing, so a redelivery is harmless.
    pub fn apply(&mut self, event: &Event) {
        if event.position <= self.last_position || event.customer_id != self.customer_id {
            return;
        }
        let slot = self
            .methods
            .binary_search_by_key(&event.paymethod_id, |m| m.id);
        match (&event.kind, slot) {
            (
                EventKind::PaymentMethodRegistered { method }
                | EventKind::PaymentMethodChanged { method, .. },
                Ok(i),
            ) => self.methods[i] = method.clone(),
            (
                EventKind::PaymentMethodRegistered { method }
                | EventKind::PaymentMethodChanged { method, .. },
                Err(i),
            ) => self.methods.insert(i, method.clone()),
            (EventKind::PaymentMethodRemoved { .. }, Ok(i)) => {
                self.methods.remove(i);
            }
            (EventKind::PaymentMethodRemoved { .. }, Err(_)) => {}
        }
        self.recent.insert(0, Message::for_event(event));
        self.recent.truncate(RECENT_MESSAGES);
        self.last_position = event.position;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Brand, Kind, MaskedAttrs, PaymentId, PaymethodId, Timestamp};

    fn alice() -> CustomerId {
        CustomerId::parse("alice").unwrap()
    }

    fn method(id: u64, version: u64, last4: &str) -> MethodSnapshot {
        MethodSnapshot {
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

    fn event(position: u64, kind: EventKind) -> Event {
        let (id, version) = match &kind {
            EventKind::PaymentMethodRegistered { method }
            | EventKind::PaymentMethodChanged { method, .. } => (method.id, method.version),
            EventKind::PaymentMethodRemoved { .. } => (PaymethodId(1), 3),
        };
        Event {
            position: Position(position),
            paymethod_id: id,
            customer_id: alice(),
            version,
            recorded_at: Timestamp(position as i64),
            kind,
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
                EventKind::PaymentMethodRegistered {
                    method: method(2, 1, "1111"),
                },
            ),
            event(
                2,
                EventKind::PaymentMethodRegistered {
                    method: method(1, 1, "4242"),
                },
            ),
            event(
                3,
                EventKind::PaymentMethodChanged {
                    previous: attrs("4242"),
                    method: method(1, 2, "4444"),
                },
            ),
            event(
                4,
                EventKind::PaymentMethodRemoved {
                    attrs: attrs("4444"),
                },
            ),
        ];
        let mut view = Mypage::empty(alice());
        for e in &log[..3] {
            view.apply(e);
        }
        assert_eq!(
            view.methods,
            vec![method(1, 2, "4444"), method(2, 1, "1111")]
        );
        view.apply(&log[3]);
        assert_eq!(view.methods, vec![method(2, 1, "1111")]);
        let ids: Vec<u64> = view.recent.iter().map(|m| m.id).collect();
        assert_eq!(ids, [4, 3, 2, 1]);
        assert_eq!(view.last_position, Position(4));

        let before = view.clone();
        view.apply(&log[1]);
        assert_eq!(view, before, "an event applied again changes nothing");
    }

    #[test]
    fn only_the_newest_messages_are_kept() {
        let mut view = Mypage::empty(alice());
        for p in 1..=(RECENT_MESSAGES as u64 + 5) {
            view.apply(&event(
                p,
                EventKind::PaymentMethodChanged {
                    previous: method(1, 1, "4242").attrs(),
                    method: method(1, p, "4242"),
                },
            ));
        }
        assert_eq!(view.recent.len(), RECENT_MESSAGES);
        assert_eq!(view.recent[0].id, RECENT_MESSAGES as u64 + 5);
        assert_eq!(view.methods.len(), 1);
    }
}
