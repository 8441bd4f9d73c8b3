//! The checkpointed log tail that every reader of the event log shares. It reads events after
//! its durable checkpoint, is woken by the store writer after each commit, and advances the
//! checkpoint only in the same write as what the reader made of the events, so a crash
//! repeats a batch, never skips one. Wake-ups do not pile up: while one is queued, commits
//! send no other (its batch will read their events), so a busy log never buries a reader's
//! other messages under catch-ups.
//!
//! A store outage (a storage I/O error, the database being reopened) is waited out, not a
//! failure of the reader: [`LogTail::unless_outage`] turns it into a wake-up a little later,
//! and the batch is read again from the checkpoint, which did not move. Only a batch whose
//! write failed and turns out, once the store reads again, to have been stored after all
//! (a failure of the commit's very last sync) fails the reader, so that it restarts from
//! what the store holds.

use super::writer::{WriteError, Writer};
use crate::bus::Delivered;
use crate::domain::{Event, Position};
use crate::store::postgres::group::{Batch, GroupReader};
use crate::store::{Advance, Checkpoint, Cursor, Rejected, Store, StoreError, Write};
use ractor::{ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Events read per batch.
pub const BATCH: usize = 512;

/// How long a reader waits before reading again after a store outage.
const OUTAGE_RETRY: Duration = Duration::from_millis(500);

pub struct LogTail {
    /// The checkpoint's name in the store.
    name: &'static str,
    /// The gauge of events committed and not yet handled.
    lag_gauge: &'static str,
    store: Store,
    writer: Writer,
    commits: watch::Receiver<Position>,
    checkpoint: Cursor,
    /// Set while a wake-up is queued at the reader and its batch not yet read.
    woken: Arc<AtomicBool>,
    /// Sends the reader a wake-up (false once it is gone).
    wake_now: Arc<dyn Fn() -> bool + Send + Sync>,
    /// The last position of a batch whose write failed with a storage error: almost surely
    /// not stored, which the next batch checks before going on.
    unsure: Option<Cursor>,
    source: Source,
}

/// Where a reader's events come from.
enum Source {
    /// The embedded store's log, read after the checkpoint; a commit of this process wakes
    /// the reader (`waker`).
    Store { waker: JoinHandle<()> },
    /// The reader's consumer group on NATS JetStream (N replicas on PostgreSQL): a task
    /// fetches batches while this replica holds the group's lease, hands them over one at a
    /// time and wakes the reader. A batch stays `pending` until its write is stored; then its
    /// messages are acked.
    Bus {
        batches: mpsc::Receiver<Batch>,
        feeder: JoinHandle<()>,
        pending: Option<Batch>,
        /// Set when this replica takes the group (over); see [`LogTail::taken_over`].
        taken_over: Arc<AtomicBool>,
    },
}

/// How long the bus feeder waits for messages in one fetch.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// How long a replica holds a reader's lease unless it renews it (each fetch does).
const READER_LEASE: Duration = Duration::from_secs(10);
/// How long a fetched message may stay unacked before JetStream hands it out again.
const ACK_WAIT: Duration = Duration::from_secs(30);

impl LogTail {
    /// Reads the checkpoint `name` and has `wake()` sent to `actor` now and after every
    /// commit (or batch from the bus), until the tail is dropped.
    pub async fn start<M: ractor::Message>(
        name: &'static str,
        lag_gauge: &'static str,
        store: Store,
        writer: Writer,
        commits: watch::Receiver<Position>,
        actor: &ActorRef<M>,
        wake: fn() -> M,
    ) -> Result<Self, ActorProcessingErr> {
        let checkpoint = store.checkpoint(name).await?.at;
        let woken = Arc::new(AtomicBool::new(true));
        actor.send_message(wake())?;
        let target = actor.clone();
        let wake_now: Arc<dyn Fn() -> bool + Send + Sync> =
            Arc::new(move || target.send_message(wake()).is_ok());
        let source = match store.bus_log() {
            None => Source::Store {
                waker: wake_on_commit(actor.clone(), commits.clone(), wake, woken.clone()),
            },
            Some(log) => {
                let reader = GroupReader::new(
                    log.store.clone(),
                    &log.bus,
                    name,
                    &log.holder,
                    READER_LEASE,
                    ACK_WAIT,
                    BATCH,
                );
                let (tx, batches) = mpsc::channel(1);
                let taken_over = Arc::new(AtomicBool::new(false));
                let wake = Wake {
                    now: wake_now.clone(),
                    woken: woken.clone(),
                    taken_over: taken_over.clone(),
                };
                Source::Bus {
                    batches,
                    feeder: feed(reader, tx, wake),
                    pending: None,
                    taken_over,
                }
            }
        };
        Ok(Self {
            name,
            lag_gauge,
            store,
            writer,
            commits,
            checkpoint,
            woken,
            wake_now,
            unsure: None,
            source,
        })
    }

    /// The last event handled.
    pub fn checkpoint(&self) -> Cursor {
        self.checkpoint
    }

    /// Up to `BATCH` events after the checkpoint; none when caught up.
    pub async fn batch(&mut self) -> Result<Vec<Event>, ActorProcessingErr> {
        // Before the read: a commit from here on wakes the reader again.
        self.woken.store(false, Ordering::SeqCst);
        if let Some(last) = self.unsure {
            let name = self.name;
            let stored = self.store.checkpoint(name).await?.at;
            if stored >= last {
                return Err(format!(
                    "{name}: a batch reported unwritten was stored after all; restarting from the store"
                )
                .into());
            }
            self.unsure = None;
        }
        let events = match &mut self.source {
            Source::Store { .. } => {
                let after = self.checkpoint.position();
                self.store.events_after(after, BATCH).await?
            }
            Source::Bus {
                batches, pending, ..
            } => {
                if pending.is_none() {
                    *pending = batches.try_recv().ok();
                }
                match pending {
                    Some(batch) => batch
                        .events
                        .iter()
                        .map(Delivered::to_event)
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                }
            }
        };
        if events.is_empty() {
            self.record_lag();
        }
        Ok(events)
    }

    /// Writes what the reader made of `events` (a command that also moves the checkpoint
    /// from where the batch was read to the last of them, which `build` is given) and
    /// advances. True when the batch was full and more events may wait. A checkpoint that is
    /// no longer where this reader read from (another reader moved it, or a batch reported
    /// unwritten was stored after all) fails the reader, which restarts from the store.
    pub async fn advance<C: Write>(
        &mut self,
        events: &[Event],
        build: impl FnOnce(Advance) -> C,
    ) -> Result<bool, ActorProcessingErr> {
        let Some(last) = events.last().map(|e| Cursor::at(e.position)) else {
            return Ok(false);
        };
        let advance = match &self.source {
            Source::Store { .. } => Advance {
                from: self.checkpoint,
                to: Checkpoint {
                    at: last,
                    stream: 0,
                },
            },
            Source::Bus { pending, .. } => pending
                .as_ref()
                .map(Batch::advance)
                .ok_or("a batch written that the bus did not hand over")?,
        };
        let last = advance.to.at;
        match self.writer.write(build(advance)).await {
            Ok(_) => {}
            Err(e @ WriteError::Storage) => {
                self.unsure = Some(last);
                return Err(e.into());
            }
            Err(WriteError::Rejected(Rejected::VersionConflict)) => {
                return Err(format!(
                    "{}: the checkpoint moved under this reader; restarting from the store",
                    self.name
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        }
        self.checkpoint = last;
        if let Source::Bus { pending, .. } = &mut self.source
            && let Some(batch) = pending.take()
        {
            tokio::spawn(async move {
                // Unacked, the messages come again (after the ack wait) and are skipped.
                if let Err(e) = GroupReader::ack(batch).await {
                    tracing::debug!(error = %e, "acking a written batch failed");
                }
            });
        }
        self.record_lag();
        Ok(events.len() == BATCH)
    }

    /// Whether this replica has taken the reader's group (over) since it last asked: then
    /// what the replica reading before it left in the store to do (work a reader plans and
    /// carries out later) is this one's to do. Always false on the embedded store, read by one
    /// process.
    pub fn taken_over(&self) -> bool {
        match &self.source {
            Source::Store { .. } => false,
            Source::Bus { taken_over, .. } => taken_over.swap(false, Ordering::SeqCst),
        }
    }

    /// [`LogTail::taken_over`] answers true again: what it asked for was not picked up (a
    /// read failed).
    pub fn not_picked_up(&self) {
        if let Source::Bus { taken_over, .. } = &self.source {
            taken_over.store(true, Ordering::SeqCst);
        }
    }

    /// The store, for the reader's reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store-writer handle, for the reader's other writes.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// `result` of handling a wake-up, with a store outage waited out: the reader is woken
    /// again a little later and reads the same batch again (nothing of it was taken into
    /// memory, since that happens only after its write). Other errors fail the reader.
    pub fn unless_outage(
        &self,
        result: Result<(), ActorProcessingErr>,
    ) -> Result<(), ActorProcessingErr> {
        match result {
            Err(e) if is_outage(&*e) => {
                tracing::debug!(tail = self.name, error = %e, "store outage; reading again shortly");
                self.woken.store(true, Ordering::SeqCst);
                let wake_now = self.wake_now.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(OUTAGE_RETRY).await;
                    wake_now();
                });
                Ok(())
            }
            other => other,
        }
    }

    /// Completes once the store commits again (at once if it does).
    pub fn store_back(&self) -> impl Future<Output = ()> + Send + 'static {
        let store = self.store.clone();
        async move {
            while !store.is_writable() {
                tokio::time::sleep(OUTAGE_RETRY).await;
            }
        }
    }

    fn record_lag(&self) {
        if let Source::Bus { .. } = self.source {
            // The commits watch is this replica's; the group's lag is the bus consumer's.
            return;
        }
        let lag = self
            .commits
            .borrow()
            .0
            .saturating_sub(self.checkpoint.position().0);
        metrics::gauge!(self.lag_gauge).set(lag as f64);
        tracing::trace!(tail = self.name, lag, "log tail");
    }
}

impl Drop for LogTail {
    fn drop(&mut self) {
        match &self.source {
            Source::Store { waker } => waker.abort(),
            Source::Bus { feeder, .. } => feeder.abort(),
        }
    }
}

/// How the feeder tells the reader: a wake-up (unless one is queued) and, once it has taken
/// the group (over), the flag [`LogTail::taken_over`] reads.
struct Wake {
    now: Arc<dyn Fn() -> bool + Send + Sync>,
    woken: Arc<AtomicBool>,
    taken_over: Arc<AtomicBool>,
}

impl Wake {
    /// Wakes the reader unless a wake-up is queued; false once the reader is gone.
    fn reader(&self) -> bool {
        self.woken.swap(true, Ordering::SeqCst) || (self.now)()
    }
}

/// Fetches the group's batches while this replica holds its lease, hands each to the reader
/// (one waits at a time) and wakes it.
fn feed(mut reader: GroupReader, batches: mpsc::Sender<Batch>, wake: Wake) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match reader.next(FETCH_WAIT).await {
                Ok(Some(batch)) if batch.events.is_empty() => {
                    // Nothing new (or only messages handled before): nothing to write, but a
                    // reader that has just taken the group over is told so at once.
                    let taken_over = batch.taken_over;
                    if let Err(e) = GroupReader::ack(batch).await {
                        tracing::debug!(error = %e, "acking skipped messages failed");
                    }
                    if taken_over {
                        wake.taken_over.store(true, Ordering::SeqCst);
                        if !wake.reader() {
                            break;
                        }
                    }
                }
                Ok(Some(batch)) => {
                    if batch.taken_over {
                        wake.taken_over.store(true, Ordering::SeqCst);
                    }
                    if batches.send(batch).await.is_err() {
                        break;
                    }
                    if !wake.reader() {
                        break;
                    }
                }
                // Another replica reads for the group.
                Ok(None) => tokio::time::sleep(READER_LEASE / 3).await,
                Err(e) => {
                    tracing::warn!(reader = ?reader, error = %e, "fetching the group's events failed; trying again");
                    tokio::time::sleep(FETCH_WAIT).await;
                }
            }
        }
    })
}

/// Sends `wake()` to `actor` whenever the store writer reports a new commit, unless a
/// wake-up is queued already (`woken`).
fn wake_on_commit<M: ractor::Message>(
    actor: ActorRef<M>,
    mut commits: watch::Receiver<Position>,
    wake: fn() -> M,
    woken: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while commits.changed().await.is_ok() {
            if woken.swap(true, Ordering::SeqCst) {
                continue;
            }
            if actor.send_message(wake()).is_err() {
                break;
            }
        }
    })
}

/// Whether a reader's error is a store outage, which passes: a read or a write refused
/// because the store is out of service, or a commit that failed with it.
pub fn is_outage(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(e) = e.downcast_ref::<StoreError>() {
        return e.is_outage();
    }
    matches!(
        e.downcast_ref::<WriteError>(),
        Some(WriteError::Storage | WriteError::Unavailable)
    )
}
