//! The handle's side of the mypage: the projection's view of a customer, with its messages'
//! delivery state, read at (or after) a position.

use crate::actors::{Actors, CommandError};
use crate::domain::message::Message;
use crate::domain::mypage::Mypage;
use crate::domain::{CustomerId, MessageId, Position};
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

/// How long `minPosition` waits for the projection.
const VIEW_WAIT: Duration = Duration::from_secs(2);

impl Actors {
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
                let stored = self.query(self.store.mypage(&c)).await?;
                Arc::new(stored.unwrap_or_else(|| Mypage::empty(customer)))
            }
        };
        let ids: Vec<MessageId> = view.recent.iter().map(|m| m.id).collect();
        let states = self.query(self.store.messages_by_id(&ids)).await?;
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
}
