//! The store-writer handle every caller uses the same way: queue a command, wait (at most
//! the handle's timeout) for its commit. A write whose wait ran out may still commit later;
//! the caller learns that it does not know ([`WriteError::Unconfirmed`]).

use super::slot::Slot;
use crate::actors::store_writer::StoreWriterMessage;
use crate::store::{Outcome, Rejected, Write};
use ractor::RpcReplyPort;
use ractor::concurrency::{OneshotReceiver, oneshot};
use std::marker::PhantomData;
use std::time::Duration;

/// Why a write was not (known to be) stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The store refused it; nothing of it was written.
    #[error(transparent)]
    Rejected(#[from] Rejected),
    /// The transaction failed for a storage outage (an I/O error, the store being reopened
    /// after one); nothing of its batch was written. It passes: 503, retry.
    #[error("the store could not commit")]
    Storage,
    /// The transaction failed for another reason (a record that does not encode, a fault of
    /// the code); nothing of its batch was written. Not an outage: it will not pass by itself.
    #[error("the store refused the batch")]
    Failed,
    /// No store writer is running (starting, restarting, shutting down), or the request
    /// was abandoned at the server's shutdown deadline; nothing was queued.
    #[error("the store writer is not running")]
    Unavailable,
    /// No answer within the handle's wait (or the writer stopped before answering): the
    /// write may have committed, or may still.
    #[error("the write's commit was not confirmed")]
    Unconfirmed,
}

impl WriteError {
    /// What an aggregate answers for a write that was not stored (a refusal, not a domain
    /// answer; `Rejected` is the aggregate's own to interpret and is `Internal` here).
    pub fn refusal(&self) -> super::Refusal {
        match self {
            // A full disk or the store reopening after it: it passes, so 503 and retry.
            Self::Unavailable | Self::Storage => super::Refusal::Unavailable,
            Self::Rejected(_) | Self::Unconfirmed | Self::Failed => super::Refusal::Internal,
        }
    }

    /// Whether the write may still have committed, so that the state in memory cannot be
    /// trusted. After `Storage` the batch is almost always not stored, but a failure of the
    /// commit's very last sync can leave it stored: the state is reloaded all the same.
    pub fn leaves_unsure(&self) -> bool {
        matches!(self, Self::Unconfirmed | Self::Storage | Self::Failed)
    }
}

/// The handle on the store writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    actor: Slot<StoreWriterMessage>,
    wait: Duration,
}

/// A write queued at the store writer, not yet known to be committed.
pub struct PendingWrite<C> {
    answer: OneshotReceiver<Result<Outcome, WriteError>>,
    command: PhantomData<fn() -> C>,
}

impl Writer {
    /// A handle on whatever store writer `actor` holds, waiting at most `wait` for a commit.
    pub fn new(actor: Slot<StoreWriterMessage>, wait: Duration) -> Self {
        Self { actor, wait }
    }

    /// The slot the supervisor puts each incarnation of the store writer in.
    pub fn slot(&self) -> &Slot<StoreWriterMessage> {
        &self.actor
    }

    /// How long a write is waited for.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Writes `command` and waits for its commit; the answer is what the store assigned it.
    pub async fn write<C: Write>(&self, command: C) -> Result<C::Output, WriteError> {
        self.send(command)?.committed(self.wait).await
    }

    /// Like [`Writer::write`], and `guard` is dropped only once the write's fate is known:
    /// when the store writer answers (or goes without answering), however long that takes,
    /// even if the caller stopped waiting or was itself stopped. A claim that must outlive a
    /// write that may still commit is held this way.
    pub async fn write_holding<C: Write, G: Send + 'static>(
        &self,
        command: C,
        guard: G,
    ) -> Result<C::Output, WriteError> {
        let pending = self.send(command)?.answer;
        let (tx, answered) = oneshot();
        // The guard lives in a task of its own, not in the caller's future.
        tokio::spawn(async move {
            let answer = pending.await;
            drop(guard);
            let _ = tx.send(answer);
        });
        match tokio::time::timeout(self.wait, answered).await {
            Ok(Ok(Ok(answer))) => output::<C>(answer),
            Ok(_) | Err(_) => Err(WriteError::Unconfirmed),
        }
    }

    /// Queues `command` now (writes sent one after another commit one after another); the
    /// result is the way to wait for its commit.
    pub fn send<C: Write>(&self, command: C) -> Result<PendingWrite<C>, WriteError> {
        let writer = self.actor.get().map_err(|_| WriteError::Unavailable)?;
        // A queued write commits even if its request is gone: written from a request's task,
        // it is the request's point of no return.
        if !crate::fate::Fate::proceed_current() {
            return Err(WriteError::Unavailable);
        }
        let (tx, rx) = oneshot();
        let message = StoreWriterMessage::Write(command.into(), RpcReplyPort::from(tx));
        writer
            .send_message(message)
            .map_err(|_| WriteError::Unavailable)?;
        Ok(PendingWrite {
            answer: rx,
            command: PhantomData,
        })
    }
}

impl<C: Write> PendingWrite<C> {
    /// Waits at most `wait` for the commit.
    pub async fn committed(self, wait: Duration) -> Result<C::Output, WriteError> {
        match tokio::time::timeout(wait, self.answer).await {
            Ok(Ok(answer)) => output::<C>(answer),
            Ok(Err(_)) => Err(WriteError::Unconfirmed),
            Err(_) => Err(WriteError::Unconfirmed),
        }
    }
}

/// The command's own output from what the store reported.
fn output<C: Write>(answer: Result<Outcome, WriteError>) -> Result<C::Output, WriteError> {
    C::output(answer?).ok_or_else(|| {
        tracing::error!(
            command = std::any::type_name::<C>(),
            "the store did not report what it assigned"
        );
        WriteError::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef};
    use std::sync::{Arc, Mutex};

    #[test]
    fn an_outage_is_unavailable_and_passes_and_a_refused_batch_is_an_internal_error() {
        use super::super::Refusal;
        assert_eq!(WriteError::Storage.refusal(), Refusal::Unavailable);
        assert_eq!(WriteError::Unavailable.refusal(), Refusal::Unavailable);
        assert_eq!(WriteError::Failed.refusal(), Refusal::Internal);
        let outage = |e: WriteError| crate::actors::kernel::is_outage(&e);
        assert!(outage(WriteError::Storage) && outage(WriteError::Unavailable));
        assert!(
            !outage(WriteError::Failed),
            "a log reader fails on it, not waits forever"
        );
        assert!(!outage(WriteError::Unconfirmed));
    }

    /// A store writer that keeps every reply until told to answer.
    struct SlowWriter;

    type Replies = Arc<Mutex<Vec<RpcReplyPort<Result<Outcome, WriteError>>>>>;

    impl Actor for SlowWriter {
        type Msg = StoreWriterMessage;
        type State = Replies;
        type Arguments = Replies;

        async fn pre_start(
            &self,
            _: ActorRef<Self::Msg>,
            replies: Replies,
        ) -> Result<Replies, ActorProcessingErr> {
            Ok(replies)
        }

        async fn handle(
            &self,
            _: ActorRef<Self::Msg>,
            StoreWriterMessage::Write(_, reply): StoreWriterMessage,
            replies: &mut Replies,
        ) -> Result<(), ActorProcessingErr> {
            replies.lock().unwrap().push(reply);
            Ok(())
        }
    }

    /// The guard is still held; once the writer answers, it is released.
    async fn held_until_answered(guard: &Arc<()>, replies: &Replies) {
        assert_eq!(
            Arc::strong_count(guard),
            2,
            "held while the write may commit"
        );
        let reply = replies.lock().unwrap().pop().unwrap();
        let _ = reply.send(Ok(Outcome::default()));
        for _ in 0..100 {
            if Arc::strong_count(guard) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the guard was not released once the write was answered");
    }

    #[tokio::test]
    async fn a_guard_outlives_a_write_whose_wait_ran_out_until_its_fate_is_known() {
        let replies = Replies::default();
        let (actor, _) = Actor::spawn(None, SlowWriter, replies.clone())
            .await
            .unwrap();
        let writer = Writer::new(Slot::default(), Duration::from_millis(20));
        writer.slot().set(Some(actor));
        let guard = Arc::new(());
        let command = crate::store::Prune {
            before: crate::domain::Timestamp(0),
            limit: 1,
        };
        let written = writer.write_holding(command, guard.clone()).await;
        assert_eq!(written, Err(WriteError::Unconfirmed));
        tokio::time::sleep(Duration::from_millis(50)).await;
        held_until_answered(&guard, &replies).await;
    }

    #[tokio::test]
    async fn a_guard_outlives_a_caller_stopped_while_its_write_is_queued() {
        let replies = Replies::default();
        let (actor, _) = Actor::spawn(None, SlowWriter, replies.clone())
            .await
            .unwrap();
        let writer = Writer::new(Slot::default(), Duration::from_secs(60));
        writer.slot().set(Some(actor));
        let guard = Arc::new(());
        let held = guard.clone();
        let caller = tokio::spawn(async move {
            let command = crate::store::Prune {
                before: crate::domain::Timestamp(0),
                limit: 1,
            };
            let _ = writer.write_holding(command, held).await;
        });
        while replies.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The caller goes (an aggregate killed with its supervisor, say).
        caller.abort();
        let _ = caller.await;
        held_until_answered(&guard, &replies).await;
    }
}
