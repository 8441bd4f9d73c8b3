//! The handle's side for messages and the mypage: reads of the notifier's and the
//! projector's results, redelivery; releasing a quarantined aggregate; and the test hook
//! that makes an actor fail.

use super::kernel::RouterMessage;
use super::notifier::{NotifierMessage, RedeliverError};
use super::paymethod::PaymethodCommand;
use super::projector::ProjectorMessage;
use super::{Actors, CommandError, ask};
use crate::domain::MessageId;
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::Mypage;
use crate::domain::{CustomerId, PaymethodId, Position};
use crate::store::Page;
use std::sync::Arc;
use std::time::Duration;

/// A customer's mypage as read: the view, its messages' delivery state from the notifier,
/// and the position the projection had applied when it was read.
#[derive(Debug, Clone)]
pub struct MypageRead {
    pub view: Arc<Mypage>,
    pub messages: Vec<Message>,
    pub position: Position,
}

/// Actors that the test hooks can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicTarget {
    Notifier,
    Projector,
    Paymethod(PaymethodId),
}

/// How long `minPosition` waits for the projection.
const VIEW_WAIT: Duration = Duration::from_secs(2);

impl Actors {
    /// A customer's messages, by id.
    pub async fn messages(
        &self,
        customer: CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Message>, CommandError> {
        self.query(move |s| s.messages_of(&customer, after, limit))
            .await
    }

    /// A customer's mypage from the projection. With `min`, waits (at most 2 s) until the
    /// projection has applied that position; a position not yet recorded is refused at once.
    pub async fn mypage(
        &self,
        customer: CustomerId,
        min: Option<Position>,
    ) -> Result<MypageRead, CommandError> {
        if let Some(min) = min {
            let head = *self.commits.borrow();
            if min > head {
                return Err(CommandError::PositionAhead { head });
            }
            if !self.views.reached(min, VIEW_WAIT).await {
                return Err(CommandError::ViewBehind);
            }
        }
        let position = self.views.applied();
        let view = match self.views.cached(&customer) {
            Some(view) => view,
            None => {
                let c = customer.clone();
                let stored = self.query(move |s| s.mypage(&c)).await?;
                Arc::new(stored.unwrap_or_else(|| Mypage::empty(customer)))
            }
        };
        let ids: Vec<MessageId> = view.recent.iter().map(|m| m.id).collect();
        let states = self.query(move |s| s.messages_by_id(&ids)).await?;
        // The view has each message as its event defines it; the notifier has how far its
        // delivery got. One not created yet is pending.
        let messages = view
            .recent
            .iter()
            .zip(states)
            .map(|(folded, state)| state.unwrap_or_else(|| folded.clone()))
            .collect();
        Ok(MypageRead {
            view,
            messages,
            position,
        })
    }

    /// A message and every recorded delivery attempt of it.
    pub async fn message(
        &self,
        id: MessageId,
    ) -> Result<(Message, Vec<DeliveryAttempt>), CommandError> {
        let (message, attempts) = self
            .query(move |s| Ok((s.message(id)?, s.attempts_of(id)?)))
            .await?;
        Ok((message.ok_or(CommandError::NotFound)?, attempts))
    }

    /// Sends a delivered or failed message to the webhook again.
    pub async fn redeliver(&self, id: MessageId) -> Result<Message, RedeliverError> {
        let notifier = self
            .notifier
            .get()
            .map_err(|_| RedeliverError::Unavailable)?;
        ask(
            &notifier,
            |r| NotifierMessage::Redeliver(id, r),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or(Err(RedeliverError::Unavailable))
    }

    /// Lets a quarantined aggregate try again; false if it was not quarantined.
    pub async fn release(&self, id: PaymethodId) -> Result<bool, CommandError> {
        let router = self.router.get()?;
        let release = |r| RouterMessage::Release(id, r);
        Ok(ask(&router, release, Duration::from_secs(5)).await?)
    }

    /// Test hook: makes the notifier, the projector or one aggregate panic, as a bug would.
    pub fn inject_panic(&self, target: PanicTarget) -> Result<(), CommandError> {
        let sent = match target {
            PanicTarget::Paymethod(id) => self
                .router
                .get()?
                .send_message(RouterMessage::Route(
                    id,
                    PaymethodCommand::Panic,
                    tokio::time::Instant::now() + Duration::from_secs(60),
                ))
                .is_ok(),
            PanicTarget::Notifier => self
                .notifier
                .get()?
                .send_message(NotifierMessage::Panic)
                .is_ok(),
            PanicTarget::Projector => self
                .projector
                .get()?
                .send_message(ProjectorMessage::Panic)
                .is_ok(),
        };
        sent.then_some(()).ok_or(CommandError::Unavailable)
    }
}
