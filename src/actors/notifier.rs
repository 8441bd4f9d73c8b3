//! The notifier (the seed's notification service): tails the event log from its own durable
//! checkpoint and creates exactly one message per event, stored with the checkpoint in one
//! write. It is woken by the store writer after each commit; a failure here never reaches a
//! command, and a restart resumes from the checkpoint.

use super::slot::Slot;
use super::store_writer::{StoreWriterMessage, WriteError};
use crate::domain::message::Message;
use crate::domain::{Position, Timestamp};
use crate::store::{Command, NOTIFIER, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Events handled per write.
const BATCH: usize = 256;

pub struct NotifierActor;

pub struct NotifierArgs {
    pub store: Store,
    pub writer: Slot<StoreWriterMessage>,
    pub commits: watch::Receiver<Position>,
    pub write_wait: Duration,
}

pub struct NotifierState {
    store: Store,
    writer: Slot<StoreWriterMessage>,
    commits: watch::Receiver<Position>,
    write_wait: Duration,
    checkpoint: Position,
    waker: JoinHandle<()>,
}

pub enum NotifierMessage {
    /// Handle every event recorded after the checkpoint.
    CatchUp,
}

impl Actor for NotifierActor {
    type Msg = NotifierMessage;
    type State = NotifierState;
    type Arguments = NotifierArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: NotifierArgs,
    ) -> Result<NotifierState, ActorProcessingErr> {
        let store = args.store.clone();
        let checkpoint = tokio::task::spawn_blocking(move || store.checkpoint(NOTIFIER)).await??;
        let waker = wake_on_commit(myself.clone(), args.commits.clone());
        myself.send_message(NotifierMessage::CatchUp)?;
        Ok(NotifierState {
            store: args.store,
            writer: args.writer,
            commits: args.commits,
            write_wait: args.write_wait,
            checkpoint,
            waker,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut NotifierState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            // A failure to read or write is returned: the supervisor restarts this actor
            // with backoff and it resumes from its durable checkpoint.
            NotifierMessage::CatchUp => state.catch_up(&myself).await?,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut NotifierState,
    ) -> Result<(), ActorProcessingErr> {
        state.waker.abort();
        Ok(())
    }
}

/// Sends `CatchUp` whenever the store writer reports a new commit.
fn wake_on_commit(
    actor: ActorRef<NotifierMessage>,
    mut commits: watch::Receiver<Position>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while commits.changed().await.is_ok() {
            if actor.send_message(NotifierMessage::CatchUp).is_err() {
                break;
            }
        }
    })
}

impl NotifierState {
    async fn catch_up(
        &mut self,
        myself: &ActorRef<NotifierMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let store = self.store.clone();
        let after = self.checkpoint;
        let events =
            tokio::task::spawn_blocking(move || store.events_after(after, BATCH)).await??;
        let Some(last) = events.last().map(|e| e.position) else {
            self.record_lag();
            return Ok(());
        };
        let now = Timestamp::now();
        let messages = events.iter().map(|e| Message::for_event(e, now)).collect();
        let writer = self.writer.get().map_err(|e| e.to_string())?;
        let command = Command::RecordMessages {
            messages,
            checkpoint: last,
        };
        let build = |reply| StoreWriterMessage::Write(command, reply);
        match super::ask(&writer, build, self.write_wait).await {
            Ok(Ok(_)) => {}
            Ok(Err(WriteError::Rejected(r))) => return Err(r.to_string().into()),
            Ok(Err(e)) => return Err(e.to_string().into()),
            Err(e) => return Err(e.to_string().into()),
        }
        self.checkpoint = last;
        self.record_lag();
        if events.len() == BATCH {
            myself.send_message(NotifierMessage::CatchUp)?;
        }
        Ok(())
    }

    fn record_lag(&self) {
        let head = *self.commits.borrow();
        let lag = head.0.saturating_sub(self.checkpoint.0);
        metrics::gauge!(names::NOTIFIER_LAG).set(lag as f64);
    }
}
