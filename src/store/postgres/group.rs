//! A consumer group's reader: how the notifier, projector, saga and shipping read the log
//! from JetStream across replicas. One replica at a time reads for a group (it holds the
//! group's lease); what a batch did is written in one transaction with the group's
//! checkpoint (its cursor, and the stream's sequence number of its last message), and only
//! then are its messages acked.
//!
//! A reader never trusts what an earlier one left unacked: when it takes the group (over),
//! it makes the group's consumer anew to deliver from the message after the checkpoint. So
//! a reader that dies before its commit leaves its batch to be delivered again at once to the
//! next, and one that dies after its commit but before its acks leaves nothing to skip. The
//! stream's sequence numbers have no gaps: a message past the next one expected (one handed
//! out to a fetch that was never received comes back only after `ack_wait`) makes the
//! reader start the consumer again at the one it expects, so it never reads past an event.
//! Messages at or before the checkpoint (an event published twice beyond JetStream's
//! duplicate window, a delivery again after a late ack) are acked and skipped.

use super::{FlowError, Postgres};
use crate::bus::{Bus, BusError, Delivered};
use crate::store::{Advance, Checkpoint};
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio_postgres::Transaction;

pub struct GroupReader {
    store: Postgres,
    bus: Bus,
    /// The group's consumer while this reader holds the lease.
    consumer: Option<PullConsumer>,
    /// Until when this reader surely holds the lease (counted from before it last asked):
    /// past it, another replica may have read for the group meanwhile.
    held_until: Option<Instant>,
    group: String,
    holder: String,
    lease: Duration,
    ack_wait: Duration,
    batch: usize,
    /// Where the group is: the checkpoint as stored, then as far as this reader has read.
    read: Checkpoint,
    /// Taken (over) since the last batch handed out.
    taken_over: bool,
}

/// Messages fetched for a group: the events it has not handled yet, in commit order, and
/// every message (to ack once the batch is written).
pub struct Batch {
    pub events: Vec<Delivered>,
    /// The first batch since this reader took the group (over): what the reader before it
    /// left in the store beyond the checkpoint (the saga's steps) is this one's now.
    pub taken_over: bool,
    /// Delivered again after they were handled: acked without being handed out.
    pub skipped: usize,
    acks: Vec<async_nats::jetstream::Message>,
    /// The checkpoint the batch was read after, and the one after its last message.
    from: Checkpoint,
    to: Checkpoint,
}

impl Batch {
    /// The checkpoint's move past this batch, for the command that writes what it did.
    pub fn advance(&self) -> Advance {
        Advance {
            from: self.from.at,
            to: self.to,
        }
    }
}

impl GroupReader {
    /// The reader of `group` for this replica (`holder`); it reads once it holds the lease.
    pub fn new(
        store: Postgres,
        bus: &Bus,
        group: &str,
        holder: &str,
        lease: Duration,
        ack_wait: Duration,
        batch: usize,
    ) -> Self {
        Self {
            store,
            bus: bus.clone(),
            consumer: None,
            held_until: None,
            group: group.to_owned(),
            holder: holder.to_owned(),
            lease,
            ack_wait,
            batch,
            read: Checkpoint::default(),
            taken_over: false,
        }
    }

    /// The next batch, waiting at most `wait` for one; `None` if another replica reads for
    /// the group (this one does not hold its lease).
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Batch>, FlowError> {
        let asked = Instant::now();
        let lapsed = self.held_until.is_none_or(|until| asked >= until);
        if !self
            .store
            .lease(&self.group, &self.holder, self.lease)
            .await?
        {
            self.consumer = None;
            self.held_until = None;
            return Ok(None);
        }
        self.held_until = Some(asked + self.lease);
        let consumer = match &self.consumer {
            Some(consumer) if !lapsed => consumer.clone(),
            _ => {
                // Taken (over): from the stored checkpoint, whatever this reader read before.
                self.taken_over = true;
                self.read = self.store.checkpoint(&self.group).await?;
                tracing::info!(group = %self.group, stream = self.read.stream, "this replica reads the group now, from its checkpoint");
                self.start_at(self.read.stream + 1).await?
            }
        };
        let mut messages = consumer
            .fetch()
            .max_messages(self.batch)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let mut batch = Batch {
            events: Vec::new(),
            taken_over: false,
            skipped: 0,
            acks: Vec::new(),
            from: self.read,
            to: self.read,
        };
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| BusError::Nats(e.to_string()))?;
            let delivered = Delivered::from_message(message)?;
            let expected = batch.to.stream + 1;
            if delivered.stream > expected {
                // An earlier message is out unreceived: read again from it.
                tracing::warn!(group = %self.group, expected, got = delivered.stream, "a gap in the group's messages; starting its consumer again");
                self.start_at(expected).await?;
                break;
            }
            batch.acks.push(delivered.message.clone());
            if delivered.stream < expected || delivered.cursor <= batch.to.at {
                tracing::debug!(group = %self.group, stream = delivered.stream, expected, cursor = ?delivered.cursor, after = ?batch.to.at, "skipped");
                batch.skipped += 1;
                batch.to.stream = batch.to.stream.max(delivered.stream);
                continue;
            }
            batch.to = Checkpoint {
                at: delivered.cursor,
                stream: delivered.stream,
            };
            batch.events.push(delivered);
        }
        self.read = batch.to;
        if !batch.acks.is_empty() {
            tracing::trace!(group = %self.group, events = batch.events.len(), skipped = batch.skipped, from = batch.from.stream, to = batch.to.stream, "fetched");
        }
        batch.taken_over = std::mem::take(&mut self.taken_over);
        Ok(Some(batch))
    }

    /// Starts the group's consumer at the stream's message `start`.
    async fn start_at(&mut self, start: u64) -> Result<PullConsumer, FlowError> {
        let consumer = self
            .bus
            .consumer_from(&self.group, start, self.ack_wait, self.batch)
            .await?;
        self.consumer = Some(consumer.clone());
        Ok(consumer)
    }

    /// Moves the group's checkpoint past `batch` within `txn`, the transaction that writes
    /// what the batch did: false if another reader moved it meanwhile (then `txn` must not
    /// commit).
    pub async fn finish(&self, txn: &Transaction<'_>, batch: &Batch) -> Result<bool, FlowError> {
        if batch.to == batch.from {
            return Ok(true);
        }
        Ok(super::lease::advance_checkpoint_in(txn, &self.group, &batch.advance()).await?)
    }

    /// Acks every message of a batch whose transaction committed.
    pub async fn ack(batch: Batch) -> Result<(), FlowError> {
        for message in batch.acks {
            message
                .ack()
                .await
                .map_err(|e| BusError::Nats(e.to_string()))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for GroupReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupReader({} as {})", self.group, self.holder)
    }
}
