//! Messages sent again: a redelivery an operator asks for (a new round of attempts), and the
//! messages a run with a webhook left pending, failed at a start without one.

use super::{NO_WEBHOOK, NotifierMessage, NotifierState, RedeliverError, record_failed};
use crate::auth::AuditEntry;
use crate::domain::message::{Channel, DeliveryAttempt, Message, MessageStatus};
use crate::domain::{MessageId, Timestamp};
use crate::store;
use ractor::{ActorProcessingErr, ActorRef};

impl NotifierState {
    pub(super) async fn redeliver(
        &mut self,
        myself: &ActorRef<NotifierMessage>,
        id: MessageId,
        audit: AuditEntry,
    ) -> Result<Message, RedeliverError> {
        let found = self.tail.store().message(id).await;
        let mut message = match found {
            Ok(Some(m)) => m,
            Ok(None) => return Err(RedeliverError::NotFound),
            Err(_) => return Err(RedeliverError::Unavailable),
        };
        if self.webhook.is_none() {
            return Err(RedeliverError::NoWebhook);
        }
        if message.status == MessageStatus::Pending {
            return Err(RedeliverError::StillPending);
        }
        message.status = MessageStatus::Pending;
        let command = store::RecordDelivery {
            message: message.clone(),
            attempt: None,
            audit: Some(audit),
        };
        self.tail
            .writer()
            .write(command)
            .await
            .map_err(|_| RedeliverError::Unavailable)?;
        self.enqueue(myself, vec![message.clone()]);
        Ok(message)
    }

    /// Messages left pending for a webhook by a run that had one: with none configured they
    /// would wait forever, so each fails, with a last attempt record that says why (no
    /// request was made). Once a webhook is configured again, they can be redelivered.
    pub(super) async fn fail_for_want_of_a_webhook(
        &self,
        pending: Vec<Message>,
    ) -> Result<(), ActorProcessingErr> {
        let now = Timestamp::now();
        let mut commits = Vec::with_capacity(pending.len());
        for mut message in pending {
            let attempt = DeliveryAttempt {
                number: message.attempts + 1,
                channel: Channel::Webhook,
                at: now,
                status_code: None,
                duration_ms: 0,
                error: Some(NO_WEBHOOK.to_owned()),
            };
            message.attempted(false, true, now);
            let attempt = Some(attempt);
            let record = store::RecordDelivery {
                message,
                attempt,
                audit: None,
            };
            commits.push(self.tail.writer().send(record)?);
        }
        let failed = commits.len();
        for commit in commits {
            commit.committed(self.tail.writer().wait()).await?;
        }
        if failed > 0 {
            tracing::warn!(
                messages = failed,
                "messages pending for a webhook failed: no webhook is configured"
            );
            record_failed(failed);
        }
        Ok(())
    }
}
