//! The handle's side of the inbox: a customer's messages, one message with its delivery
//! attempts (read from the store), and redelivery (through the notifier).

use super::{NotifierMessage, RedeliverError};
use crate::actors::{Actors, CommandError, ask};
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::{CustomerId, MessageId};
use crate::store::Page;
use std::time::Duration;

impl Actors {
    /// A customer's messages, by id.
    pub async fn messages(
        &self,
        customer: CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Message>, CommandError> {
        self.query(self.store.messages_of(&customer, after, limit))
            .await
    }

    /// A message and every recorded delivery attempt of it.
    pub async fn message(
        &self,
        id: MessageId,
    ) -> Result<(Message, Vec<DeliveryAttempt>), CommandError> {
        let (message, attempts) = self
            .query(async {
                Ok((
                    self.store.message(id).await?,
                    self.store.attempts_of(id).await?,
                ))
            })
            .await?;
        Ok((message.ok_or(CommandError::NotFound)?, attempts))
    }

    /// Sends a delivered or failed message to the webhook again, recording `audit` (the
    /// admin's request) in the same commit.
    pub async fn redeliver(
        &self,
        id: MessageId,
        audit: crate::auth::AuditEntry,
    ) -> Result<Message, RedeliverError> {
        let notifier = self
            .notifier
            .get()
            .map_err(|_| RedeliverError::Unavailable)?;
        ask(
            &notifier,
            |r| NotifierMessage::Redeliver(id, audit, r),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or(Err(RedeliverError::Unavailable))
    }
}
