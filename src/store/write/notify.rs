//! The notifier's and the projector's side of a write transaction: messages and view rows.

use super::{StoreError, Tables};
use crate::domain::message::{DeliveryAttempt, Message, MessageStatus};
use crate::domain::mypage::ViewChange;
use crate::store::codec::encode;
use crate::store::command::{Outcome, Rejected};
use crate::store::tables::{VIEW_MESSAGE, VIEW_METHOD, VIEW_ORDER};
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

    /// Records a message's delivery state and its latest attempt. Attempt numbers continue
    /// from what is stored: a notifier restarted before its predecessor's last record
    /// committed counts from a stale message, and must not replace that record.
    pub(super) fn record_delivery(
        &mut self,
        message: &Message,
        attempt: Option<&DeliveryAttempt>,
    ) -> Result<Result<Outcome, Rejected>, StoreError> {
        if self.messages.get(message.id.0)?.is_none() {
            return Ok(Err(Rejected::VersionConflict));
        }
        let mut message = message.clone();
        if let Some(attempt) = attempt {
            let last = self
                .attempts
                .range((message.id.0, 0)..=(message.id.0, u32::MAX))?
                .next_back()
                .transpose()?
                .map_or(0, |(key, _)| key.value().1);
            let mut attempt = attempt.clone();
            attempt.number = attempt.number.max(last + 1);
            message.attempts = message.attempts.max(attempt.number);
            self.attempts
                .insert((message.id.0, attempt.number), encode(&attempt)?.as_slice())?;
        }
        self.put_message(&message)?;
        Ok(Ok(Outcome::default()))
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
            ViewChange::PutOrder(customer, view) => {
                self.mypage.insert(
                    (customer.as_str(), VIEW_ORDER, view.order.id.0),
                    encode(view)?.as_slice(),
                )?;
            }
            ViewChange::DropOrder(customer, id) => {
                self.mypage.remove((customer.as_str(), VIEW_ORDER, id.0))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::message::Message;
    use crate::domain::{CustomerId, Position};
    use crate::store::testing::register;
    use crate::store::{
        Advance, Checkpoint, Cursor, NOTIFIER, RecordDelivery, RecordMessages, Redb, Rejected,
    };

    fn alice() -> CustomerId {
        CustomerId::parse("alice").unwrap()
    }

    #[test]
    fn an_events_message_is_listed_once_the_notifier_has_created_it_and_only_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Redb::open(&dir.path().join("t.redb")).unwrap();
        register(&store, 1, &alice());
        // The registration listed its event's message; it is not there to show yet.
        assert!(store.messages_of(&alice(), 0, 10).unwrap().items.is_empty());

        let events = store.events_after(Position(0), 10).unwrap();
        assert_eq!(events.len(), 1);
        let record = |from: Position| RecordMessages {
            messages: vec![Message::for_event(&events[0]).unwrap()],
            checkpoint: Advance {
                from: Cursor::at(from),
                to: Checkpoint {
                    at: Cursor::at(events[0].position),
                    stream: 0,
                },
            },
        };
        store
            .commit(&[record(Position(0)).into()])
            .unwrap()
            .remove(0)
            .unwrap();
        let listed = store.messages_of(&alice(), 0, 10).unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].id.0, events[0].position.0);
        assert_eq!(listed.next_after, None);

        // The batch written again from where it was read (a second reader of the log): refused,
        // nothing written.
        let again = store.commit(&[record(Position(0)).into()]).unwrap();
        assert_eq!(again, vec![Err(Rejected::VersionConflict)]);
        assert_eq!(store.messages_of(&alice(), 0, 10).unwrap().items.len(), 1);
        // A message for an event that has one already is skipped.
        let from = events[0].position;
        store
            .commit(&[record(from).into()])
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(store.messages_of(&alice(), 0, 10).unwrap().items.len(), 1);
        assert_eq!(store.checkpoint(NOTIFIER).unwrap().at, Cursor::at(from));
        assert!(
            store
                .messages_of(&CustomerId::parse("bob").unwrap(), 0, 10)
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[test]
    fn an_attempt_numbered_from_a_stale_count_is_kept_beside_the_one_it_would_have_replaced() {
        use crate::domain::Timestamp;
        use crate::domain::message::{Channel, DeliveryAttempt, MessageStatus};
        let dir = tempfile::TempDir::new().unwrap();
        let store = Redb::open(&dir.path().join("t.redb")).unwrap();
        let position = register(&store, 1, &alice());
        let event = store.events_after(Position(0), 1).unwrap().remove(0);
        let created = Message::for_event(&event).unwrap();
        let record = RecordMessages {
            messages: vec![created.clone()],
            checkpoint: Advance {
                from: Cursor::default(),
                to: Checkpoint {
                    at: Cursor::at(position),
                    stream: 0,
                },
            },
        };
        store.commit(&[record.into()]).unwrap().remove(0).unwrap();
        let attempt = |at: i64, status_code: u16| DeliveryAttempt {
            number: created.attempts + 1,
            channel: Channel::Webhook,
            at: Timestamp(at),
            status_code: Some(status_code),
            duration_ms: 5,
            error: (status_code != 200).then(|| "the receiver answered 503".to_owned()),
        };
        let deliver = |ok: bool, attempt: DeliveryAttempt| {
            let mut message = created.clone();
            message.attempted(ok, false, attempt.at);
            let command = RecordDelivery {
                message,
                attempt: Some(attempt),
                audit: None,
            };
            store.commit(&[command.into()]).unwrap().remove(0).unwrap();
        };
        deliver(false, attempt(1, 503));
        // A notifier restarted before that record committed read the message with no attempt,
        // and numbers its own attempt 1 too.
        deliver(true, attempt(2, 200));

        let attempts = store.attempts_of(created.id).unwrap();
        let numbers: Vec<u32> = attempts.iter().map(|a| a.number).collect();
        assert_eq!(numbers, [1, 2], "numbers continue from what is stored");
        assert_eq!(
            attempts[0].status_code,
            Some(503),
            "the first record is kept"
        );
        assert_eq!(attempts[1].status_code, Some(200));
        let stored = store.message(created.id).unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.attempts),
            (MessageStatus::Delivered, 2)
        );
    }
}
