//! The handle's side of the mypage: the projection's view of a customer, with its messages'
//! delivery state, read at (or after) a position.

use crate::actors::{Actors, CommandError};
use crate::domain::message::Message;
use crate::domain::mypage::Mypage;
use crate::domain::{CustomerId, MessageId, Position};
use crate::store::PROJECTOR;
use crate::store::postgres::Applied;
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
/// How often a replica asks the store whether the projection has got there.
const VIEW_POLL: Duration = Duration::from_millis(20);

impl Actors {
    /// A customer's mypage from the projection. With `min`, waits (at most 2 s) until the
    /// projection has applied that position; a position not yet recorded is refused at once.
    pub async fn mypage(
        &self,
        customer: CustomerId,
        min: Option<Position>,
    ) -> Result<MypageRead, CommandError> {
        if self.store.bus_log().is_some() {
            return self.shared_mypage(customer, min).await;
        }
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
        let view = self.views.cached(&customer);
        self.read_mypage(customer, view, position).await
    }

    /// [`Actors::mypage`] with replicas (PostgreSQL): the projector may run on another
    /// replica, so whether it has applied `min` is asked of the store (every 20 ms, at most
    /// 2 s), and the view is the stored one.
    async fn shared_mypage(
        &self,
        customer: CustomerId,
        min: Option<Position>,
    ) -> Result<MypageRead, CommandError> {
        if let Some(min) = min {
            let deadline = tokio::time::Instant::now() + VIEW_WAIT;
            loop {
                match self.query(self.store.applied(PROJECTOR, min)).await? {
                    Applied::Yes => break,
                    Applied::Unknown { head } => {
                        let head = Position(u64::try_from(head).unwrap_or(0));
                        return Err(CommandError::PositionAhead { head });
                    }
                    Applied::NotYet if tokio::time::Instant::now() >= deadline => {
                        return Err(CommandError::ViewBehind);
                    }
                    Applied::NotYet => tokio::time::sleep(VIEW_POLL).await,
                }
            }
        }
        let position = self.query(self.store.checkpoint(PROJECTOR)).await?;
        self.read_mypage(customer, None, position.at.position())
            .await
    }

    /// The view (`cached`, else the stored one) with its messages' delivery state.
    async fn read_mypage(
        &self,
        customer: CustomerId,
        cached: Option<Arc<Mypage>>,
        position: Position,
    ) -> Result<MypageRead, CommandError> {
        let view = match cached {
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
