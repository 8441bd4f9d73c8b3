//! The notifier's and the projector's side of a write transaction: messages and view rows.

use super::{StoreError, Tables};
use crate::domain::message::{Message, MessageStatus};
use crate::domain::mypage::ViewChange;
use crate::store::codec::encode;
use crate::store::tables::{VIEW_MESSAGE, VIEW_METHOD};
use redb::ReadableTable;

impl Tables<'_> {
    /// Stores `message` unless its event already has one (a redelivery after a crash): a
    /// message's id is its event's position, so there is at most one per event.
    pub(super) fn insert_message(&mut self, message: &Message) -> Result<(), StoreError> {
        if self.messages.get(message.id.0)?.is_some() {
            return Ok(());
        }
        // Listed for its customer already, by the command that recorded its event.
        self.put_message(message)
    }

    /// Writes a message's current state and keeps the index of pending ones in step.
    pub(super) fn put_message(&mut self, message: &Message) -> Result<(), StoreError> {
        self.messages
            .insert(message.id.0, encode(message)?.as_slice())?;
        if message.status == MessageStatus::Pending {
            self.messages_pending.insert(message.id.0, ())?;
        } else {
            self.messages_pending.remove(message.id.0)?;
        }
        Ok(())
    }

    pub(super) fn change_view(&mut self, change: &ViewChange) -> Result<(), StoreError> {
        match change {
            ViewChange::PutMethod(m) => {
                self.mypage.insert(
                    (m.customer_id.as_str(), VIEW_METHOD, m.id.0),
                    encode(m)?.as_slice(),
                )?;
            }
            ViewChange::DropMethod(customer, id) => {
                self.mypage.remove((customer.as_str(), VIEW_METHOD, id.0))?;
            }
            ViewChange::PutMessage(m) => {
                self.mypage.insert(
                    (m.customer_id.as_str(), VIEW_MESSAGE, m.id.0),
                    encode(m)?.as_slice(),
                )?;
            }
            ViewChange::DropMessage(customer, id) => {
                self.mypage
                    .remove((customer.as_str(), VIEW_MESSAGE, id.0))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::intent::IntentRef;
    use crate::domain::message::Message;
    use crate::domain::{
        AccountNumber, CustomerId, Kind, Payment, PaymentMethod, PaymethodId, Position,
    };
    use crate::store::{Command, Store};

    fn alice() -> CustomerId {
        CustomerId::parse("alice").unwrap()
    }

    /// Registers payment method 1 for alice, the way the aggregate does after an approval.
    fn register(store: &Store) {
        let intent = IntentRef {
            base: "reg_1".into(),
            nonce: "n1".into(),
        };
        let open = Command::OpenIntent {
            base: intent.base.clone(),
            nonce: intent.nonce.clone(),
            customer_id: alice(),
            paymethod_id: None,
        };
        store.commit(&[open]).unwrap().remove(0).unwrap();
        let number = AccountNumber::parse(Kind::Card, "4242424242424242").unwrap();
        let method = PaymentMethod::registered(
            PaymethodId(1),
            alice(),
            &number,
            None,
            "tok_1".into(),
            "f1".into(),
        );
        let payment = Payment::verification(alice(), None, None, "auth_1".into());
        let command = Command::Register {
            method,
            payment,
            intent,
            idempotency: None,
        };
        store.commit(&[command]).unwrap().remove(0).unwrap();
    }

    #[test]
    fn an_events_message_is_listed_once_the_notifier_has_created_it_and_only_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        register(&store);
        // The registration listed its event's message; it is not there to show yet.
        assert!(store.messages_of(&alice(), 0, 10).unwrap().items.is_empty());

        let events = store.events_after(Position(0), 10).unwrap();
        assert_eq!(events.len(), 1);
        let record = || Command::RecordMessages {
            messages: vec![Message::for_event(&events[0])],
            checkpoint: events[0].position,
        };
        store.commit(&[record()]).unwrap().remove(0).unwrap();
        let listed = store.messages_of(&alice(), 0, 10).unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].id.0, events[0].position.0);
        assert_eq!(listed.next_after, None);

        // A redelivery after a crash creates nothing twice.
        store.commit(&[record()]).unwrap().remove(0).unwrap();
        assert_eq!(store.messages_of(&alice(), 0, 10).unwrap().items.len(), 1);
        assert!(
            store
                .messages_of(&CustomerId::parse("bob").unwrap(), 0, 10)
                .unwrap()
                .items
                .is_empty()
        );
    }
}
