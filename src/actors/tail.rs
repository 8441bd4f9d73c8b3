//! What the notifier and the projector share: they tail the event log from a durable
//! checkpoint, are woken by the store writer after each commit, and write their results
//! (with the checkpoint) through the store writer.

use super::slot::Slot;
use super::store_writer::{StoreWriterMessage, WriteError};
use crate::domain::{Event, Position};
use crate::store::{Command, Outcome, Store, StoreError};
use ractor::concurrency::{OneshotReceiver, oneshot};
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Events read per catch-up step.
pub const BATCH: usize = 512;

/// Sends `wake()` to `actor` whenever the store writer reports a new commit.
pub fn wake_on_commit<M: ractor::Message>(
    actor: ActorRef<M>,
    mut commits: watch::Receiver<Position>,
    wake: fn() -> M,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while commits.changed().await.is_ok() {
            if actor.send_message(wake()).is_err() {
                break;
            }
        }
    })
}

/// Runs a store read off the actor's thread.
pub async fn read<T: Send + 'static>(
    store: &Store,
    read: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ActorProcessingErr> {
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || read(&store)).await??)
}

/// Up to [`BATCH`] events after `after`.
pub async fn events_after(
    store: &Store,
    after: Position,
) -> Result<Vec<Event>, ActorProcessingErr> {
    read(store, move |s| s.events_after(after, BATCH)).await
}

/// Queues `command` at the store writer now (so writes sent one after another commit in that
/// order) and returns the way to wait for its commit.
pub fn send(
    writer: &Slot<StoreWriterMessage>,
    command: Command,
) -> Result<OneshotReceiver<Result<Outcome, WriteError>>, ActorProcessingErr> {
    let (tx, rx) = oneshot();
    let writer = writer.get().map_err(|e| e.to_string())?;
    writer.send_message(StoreWriterMessage::Write(command, RpcReplyPort::from(tx)))?;
    Ok(rx)
}

/// Waits at most `wait` for a write sent with [`send`] to commit.
pub async fn committed(
    pending: OneshotReceiver<Result<Outcome, WriteError>>,
    wait: Duration,
) -> Result<Outcome, ActorProcessingErr> {
    match tokio::time::timeout(wait, pending).await {
        Ok(Ok(Ok(outcome))) => Ok(outcome),
        Ok(Ok(Err(e))) => Err(e.to_string().into()),
        Ok(Err(_)) => Err("the store writer went away".into()),
        Err(_) => Err("the write did not commit in time".into()),
    }
}

/// Writes `command` and waits for its commit.
pub async fn write(
    writer: &Slot<StoreWriterMessage>,
    command: Command,
    wait: Duration,
) -> Result<Outcome, ActorProcessingErr> {
    committed(send(writer, command)?, wait).await
}

/// Events committed but not yet handled by a reader at `checkpoint`.
pub fn lag(commits: &watch::Receiver<Position>, checkpoint: Position) -> f64 {
    commits.borrow().0.saturating_sub(checkpoint.0) as f64
}
