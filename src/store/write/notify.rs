//! The notifier's and the projector's side of a write transaction: messages and view rows.

use super::{StoreError, Tables};
use crate::domain::message::{Message, MessageStatus};
use crate::domain::mypage::ViewChange;
use crate::store::codec::encode;
use crate::store::tables::{OF_MESSAGES, VIEW_MESSAGE, VIEW_METHOD};
use redb::ReadableTable;

impl Tables<'_> {
    /// Stores `message` unless its event already has one (a redelivery after a crash): a
    /// message's id is its event's position, so there is at most one per event.
    pub(super) fn insert_message(&mut self, message: &Message) -> Result<(), StoreError> {
        if self.messages.get(message.id)?.is_some() {
            return Ok(());
        }
        self.by_customer
            .insert((message.customer_id.as_str(), OF_MESSAGES, message.id), ())?;
        self.put_message(message)
    }

    /// Writes a message's current state and keeps the index of pending ones in step.
    pub(super) fn put_message(&mut self, message: &Message) -> Result<(), StoreError> {
        self.messages
            .insert(message.id, encode(message)?.as_slice())?;
        if message.status == MessageStatus::Pending {
            self.messages_pending.insert(message.id, ())?;
        } else {
            self.messages_pending.remove(message.id)?;
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
                    (m.customer_id.as_str(), VIEW_MESSAGE, m.id),
                    encode(m)?.as_slice(),
                )?;
            }
            ViewChange::DropMessage(customer, id) => {
                self.mypage.remove((customer.as_str(), VIEW_MESSAGE, *id))?;
            }
        }
        Ok(())
    }
}
