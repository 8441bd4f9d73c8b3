//! A consumer group's reader: how the notifier, projector, saga and shipping will read the
//! log from JetStream across replicas. One replica at a time reads for a group (it holds the
//! group's lease); what a batch does is written in one transaction with the group's cursor,
//! and only then are its messages acked. So a reader that dies before its commit leaves the
//! batch to be delivered again (at most `in_flight` messages are out unacked, so they come
//! back before any newer one), and one that dies after its commit but before its acks has
//! them delivered again too: they are at or before the cursor, and skipped.

use super::{Cursor, FlowError, Postgres};
use crate::bus::{Bus, BusError, Delivered};
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_postgres::Transaction;

pub struct GroupReader {
    store: Postgres,
    consumer: PullConsumer,
    group: String,
    holder: String,
    lease: Duration,
    batch: usize,
}

/// Messages fetched for a group: the events it has not handled yet, in commit order, and
/// every message (to ack once the batch is written).
pub struct Batch {
    pub events: Vec<Delivered>,
    /// Delivered again after they were handled: acked without being handed out.
    pub skipped: usize,
    acks: Vec<async_nats::jetstream::Message>,
    last: Option<Cursor>,
}

impl GroupReader {
    /// The reader of `group` for this replica (`holder`), on the group's durable consumer.
    pub async fn new(
        store: Postgres,
        bus: &Bus,
        group: &str,
        holder: &str,
        lease: Duration,
        ack_wait: Duration,
        batch: usize,
    ) -> Result<Self, FlowError> {
        let consumer = bus.consumer(group, ack_wait, batch).await?;
        Ok(Self {
            store,
            consumer,
            group: group.to_owned(),
            holder: holder.to_owned(),
            lease,
            batch,
        })
    }

    /// The next batch, waiting at most `wait` for one; `None` if another replica reads for
    /// the group (this one does not hold its lease).
    pub async fn next(&self, wait: Duration) -> Result<Option<Batch>, FlowError> {
        if !self
            .store
            .lease(&self.group, &self.holder, self.lease)
            .await?
        {
            return Ok(None);
        }
        let handled = self.store.cursor(&self.group).await?;
        let mut messages = self
            .consumer
            .fetch()
            .max_messages(self.batch)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let mut batch = Batch {
            events: Vec::new(),
            skipped: 0,
            acks: Vec::new(),
            last: None,
        };
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| BusError::Nats(e.to_string()))?;
            let delivered = Delivered::from_message(message)?;
            batch.acks.push(delivered.message.clone());
            let seen = batch.last.unwrap_or(handled);
            if delivered.cursor <= seen {
                batch.skipped += 1;
                continue;
            }
            batch.last = Some(delivered.cursor);
            batch.events.push(delivered);
        }
        Ok(Some(batch))
    }

    /// Moves the group's cursor past `batch` within `txn`, the transaction that writes what
    /// the batch did: false if this replica lost the group's lease meanwhile (then `txn`
    /// must not commit).
    pub async fn finish(&self, txn: &Transaction<'_>, batch: &Batch) -> Result<bool, FlowError> {
        let Some(last) = batch.last else {
            return Ok(true);
        };
        Ok(super::lease::advance_in(txn, &self.group, &self.holder, last).await?)
    }

    /// Acks every message of a batch whose transaction committed.
    pub async fn ack(&self, batch: Batch) -> Result<(), FlowError> {
        for message in batch.acks {
            message
                .ack()
                .await
                .map_err(|e| BusError::Nats(e.to_string()))?;
        }
        Ok(())
    }
}
