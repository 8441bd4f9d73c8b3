//! The relay: the one replica holding the lease `relay` publishes the event log to
//! JetStream in commit order and moves its cursor only after every event of a batch has been
//! acked. A relay that dies between the acks and the cursor leaves its successor to publish
//! the batch again, which JetStream drops as duplicates within its window (and consumers
//! deduplicate beyond it); a relay that lost its lease cannot move the cursor.

use super::{FlowError, Postgres};
use crate::bus::Bus;
use std::time::Duration;

/// The lease's and the cursor's name.
pub const RELAY: &str = "relay";

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// Whether this relay held the lease (else it did nothing).
    pub leader: bool,
    /// Events published (JetStream took as new, and dropped as already published).
    pub published: usize,
    pub duplicates: usize,
}

pub struct Relay {
    pub store: Postgres,
    pub bus: Bus,
    /// This replica's name as a lease holder (unique per process).
    pub holder: String,
    /// How long the lease lasts unless renewed; a round renews it.
    pub lease: Duration,
    /// Events per batch.
    pub batch: i64,
}

impl Relay {
    /// Takes or renews the lease; if held, publishes what the log has after the cursor, a
    /// batch at a time, moving the cursor after each batch's acks.
    pub async fn round(&self) -> Result<Round, FlowError> {
        let mut round = Round::default();
        if !self.store.lease(RELAY, &self.holder, self.lease).await? {
            return Ok(round);
        }
        round.leader = true;
        let mut cursor = self.store.cursor(RELAY).await?;
        loop {
            let events = self.store.events_after(cursor, self.batch).await?;
            let Some(last) = events.last() else {
                return Ok(round);
            };
            let new = self.bus.publish(&events).await?;
            tracing::trace!(from = ?events[0].cursor, to = ?last.cursor, n = events.len(), new, "relay published");
            round.published += new;
            round.duplicates += events.len() - new;
            if !self.store.advance(RELAY, &self.holder, last.cursor).await? {
                tracing::warn!(holder = %self.holder, "the relay lost its lease during a batch; its successor carries on");
                round.leader = false;
                return Ok(round);
            }
            cursor = last.cursor;
        }
    }

    /// Rounds every `every` while this relay holds the lease (a third of the lease while
    /// another does) until `stop` completes, then gives the lease up.
    pub async fn run(self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let pause = match self.round().await {
                Ok(round) if !round.leader => self.lease / 3,
                Ok(_) => every,
                Err(e) => {
                    tracing::warn!(error = %e, "relay round failed; trying again");
                    every.max(Duration::from_millis(500))
                }
            };
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(e) = self.store.release(RELAY, &self.holder).await {
            tracing::warn!(error = %e, "giving the relay's lease up failed; it expires by itself");
        }
    }
}
