//! The notifier's and the projector's side of a batch: messages, their delivery attempts
//! and the mypage view's rows.

use super::{Applied, Batch, Params};
use crate::domain::CustomerId;
use crate::domain::message::{Message, MessageStatus};
use crate::domain::mypage::ViewChange;
use crate::store::command::{Outcome, RecordDelivery, Rejected};
use crate::store::postgres::PgError;
use crate::store::postgres::Postgres;
use crate::store::postgres::record::{encode, int, uint};
use crate::store::tables::{PROJECTOR, VIEW_MESSAGE, VIEW_METHOD, VIEW_ORDER};
use futures_util::future::try_join_all;

/// A message, unless its event has one already (a message's id is its event's position).
const INSERT_MESSAGE: &str =
    "INSERT INTO messages (id, pending, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// Held until the commit: attempts of one message are numbered by one batch at a time.
const LOCK_MESSAGE: &str = "SELECT 1 FROM messages WHERE id = $1 FOR UPDATE";
/// Sent after [`LOCK_MESSAGE`], so it sees what the lock's last holder committed.
const LAST_ATTEMPT: &str =
    "SELECT COALESCE(max(number), 0) FROM delivery_attempts WHERE message = $1";
const INSERT_ATTEMPT: &str =
    "INSERT INTO delivery_attempts (message, number, record) VALUES ($1, $2, $3)";
const PUT_MESSAGE: &str = "UPDATE messages SET pending = $2, record = $3 WHERE id = $1";
const PUT_VIEW: &str = "INSERT INTO mypage (customer, what, id, record) VALUES ($1, $2, $3, $4)
     ON CONFLICT (customer, what, id) DO UPDATE SET record = EXCLUDED.record";
const DROP_VIEW: &str = "DELETE FROM mypage WHERE customer = $1 AND what = $2 AND id = $3";

pub(super) const STATEMENTS: &[&str] = &[
    INSERT_MESSAGE,
    LOCK_MESSAGE,
    LAST_ATTEMPT,
    INSERT_ATTEMPT,
    PUT_MESSAGE,
    PUT_VIEW,
    DROP_VIEW,
];

impl Postgres {
    /// Empties the mypage views and resets the projector's checkpoint, in one transaction, so
    /// the projector folds the whole event log again from its first event.
    pub async fn reset_views(&self) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        tokio::try_join!(
            txn.execute("DELETE FROM mypage", &[]),
            txn.execute("DELETE FROM cursors WHERE name = $1", &[&PROJECTOR]),
        )?;
        txn.commit().await?;
        Ok(())
    }
}

impl Batch<'_, '_> {
    /// Messages for events (an event that has one already is skipped: a redelivery after a
    /// crash). Each is listed for its customer already, by the command that recorded its
    /// event.
    pub(super) async fn record_messages(&self, messages: &[Message]) -> Result<(), PgError> {
        let inserts = messages.iter().map(|message| async move {
            let (id, record) = (int(message.id.0)?, encode(message)?);
            let pending = message.status == MessageStatus::Pending;
            self.execute(INSERT_MESSAGE, &[&id, &pending, &record])
                .await
        });
        try_join_all(inserts).await?;
        Ok(())
    }

    /// Records a message's delivery state and its latest attempt. Attempt numbers continue
    /// from what is stored: a notifier restarted before its predecessor's last record
    /// committed counts from a stale message, and must not replace that record.
    pub(super) async fn record_delivery(&self, delivery: &RecordDelivery) -> Applied {
        let RecordDelivery {
            message,
            attempt,
            audit,
        } = delivery;
        let id = int(message.id.0)?;
        let of_message: Params = &[&id];
        let (found, last) = tokio::try_join!(
            self.query_opt(LOCK_MESSAGE, of_message),
            self.query_one(LAST_ATTEMPT, of_message),
        )?;
        if found.is_none() {
            return Ok(Err(Rejected::VersionConflict));
        }
        let last = u32::try_from(uint(last.get(0))?)
            .map_err(|_| PgError::Decode("an attempt number past u32".into()))?;
        let mut message = message.clone();
        let attempt = attempt.as_ref().map(|attempt| {
            let mut attempt = attempt.clone();
            attempt.number = attempt.number.max(last.saturating_add(1));
            message.attempts = message.attempts.max(attempt.number);
            attempt
        });
        let record_attempt = async {
            match &attempt {
                Some(attempt) => {
                    let params: Params = &[&id, &i64::from(attempt.number), &encode(attempt)?];
                    self.execute(INSERT_ATTEMPT, params).await.map(drop)
                }
                None => Ok(()),
            }
        };
        let pending = message.status == MessageStatus::Pending;
        let record = encode(&message)?;
        let put: Params = &[&id, &pending, &record];
        let record_audit = async {
            match audit {
                Some(audit) => self.record_audit(audit).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(record_attempt, self.execute(PUT_MESSAGE, put), record_audit,)?;
        Ok(Ok(Outcome::default()))
    }

    /// The rows of the mypage views that events change.
    pub(super) async fn project_views(&self, changes: &[ViewChange]) -> Result<(), PgError> {
        let writes = changes.iter().map(|change| self.change_view(change));
        try_join_all(writes).await?;
        Ok(())
    }

    async fn change_view(&self, change: &ViewChange) -> Result<(), PgError> {
        match change {
            ViewChange::PutMethod(m) => {
                self.put_view(&m.customer_id, VIEW_METHOD, m.id.0, encode(m)?)
                    .await
            }
            ViewChange::DropMethod(customer, id) => {
                self.drop_view(customer, VIEW_METHOD, id.0).await
            }
            ViewChange::PutMessage(m) => {
                self.put_view(&m.customer_id, VIEW_MESSAGE, m.id.0, encode(m)?)
                    .await
            }
            ViewChange::DropMessage(customer, id) => {
                self.drop_view(customer, VIEW_MESSAGE, id.0).await
            }
            ViewChange::PutOrder(customer, view) => {
                self.put_view(customer, VIEW_ORDER, view.order.id.0, encode(view)?)
                    .await
            }
            ViewChange::DropOrder(customer, id) => self.drop_view(customer, VIEW_ORDER, id.0).await,
        }
    }

    async fn put_view(
        &self,
        customer: &CustomerId,
        what: u8,
        id: u64,
        record: Vec<u8>,
    ) -> Result<(), PgError> {
        let params: Params = &[&customer.as_str(), &i16::from(what), &int(id)?, &record];
        self.execute(PUT_VIEW, params).await?;
        Ok(())
    }

    async fn drop_view(&self, customer: &CustomerId, what: u8, id: u64) -> Result<(), PgError> {
        let params: Params = &[&customer.as_str(), &i16::from(what), &int(id)?];
        self.execute(DROP_VIEW, params).await?;
        Ok(())
    }
}
