//! The store writer: the only actor that writes to redb. Commands from many aggregates are
//! gathered into one durable write transaction (group commit) and each is answered only after
//! that transaction has committed. It never calls other actors.

use super::kernel::WriteError;
use crate::domain::Position;
use crate::store::{Command, Outcome, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub struct StoreWriterActor;

pub struct StoreWriterArgs {
    pub store: Store,
    /// The most commands in one transaction.
    pub max_batch: usize,
    /// Told the last event position after every commit that recorded events.
    pub commits: Arc<watch::Sender<Position>>,
    /// Test only: answer registrations before their commit (a deliberate bug that the crash
    /// test's negative control must catch).
    pub ack_before_commit: bool,
}

type Reply = RpcReplyPort<Result<Outcome, WriteError>>;

pub struct StoreWriterState {
    queue: Option<mpsc::UnboundedSender<(Command, Reply)>>,
    committer: Option<JoinHandle<()>>,
}

pub enum StoreWriterMessage {
    /// Store one command's changes; the reply comes after they are durable.
    Write(Command, Reply),
}

impl Actor for StoreWriterActor {
    type Msg = StoreWriterMessage;
    type State = StoreWriterState;
    type Arguments = StoreWriterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: StoreWriterArgs,
    ) -> Result<StoreWriterState, ActorProcessingErr> {
        // Commits run in a task of their own so that writes keep queueing (and form the next
        // batch) while one transaction is being made durable.
        let (tx, rx) = mpsc::unbounded_channel();
        let committer = tokio::spawn(commit_loop(
            args.store,
            rx,
            args.max_batch.max(1),
            args.commits,
            args.ack_before_commit,
        ));
        Ok(StoreWriterState {
            queue: Some(tx),
            committer: Some(committer),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut StoreWriterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StoreWriterMessage::Write(command, reply) => state.enqueue(command, reply),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut StoreWriterState,
    ) -> Result<(), ActorProcessingErr> {
        // Closing the queue lets the committer finish what is queued, then end.
        state.queue = None;
        if let Some(committer) = state.committer.take() {
            let _ = committer.await;
        }
        Ok(())
    }
}

impl StoreWriterState {
    fn enqueue(&mut self, command: Command, reply: Reply) {
        if let Some(queue) = &self.queue
            && let Err(mpsc::error::SendError((_, reply))) = queue.send((command, reply))
        {
            let _ = reply.send(Err(WriteError::Storage));
        }
    }
}

async fn commit_loop(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<(Command, Reply)>,
    max_batch: usize,
    commits: Arc<watch::Sender<Position>>,
    ack_before_commit: bool,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let (commands, mut replies): (Vec<Command>, Vec<Option<Reply>>) =
            batch.drain(..).map(|(c, r)| (c, Some(r))).unzip();
        if ack_before_commit {
            ack_registrations_early(&commands, &mut replies).await;
        }
        let size = commands.len();
        let store = store.clone();
        let started = Instant::now();
        let result = store.commit(commands).await;
        metrics::histogram!(names::STORE_COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        metrics::histogram!(names::STORE_BATCH_SIZE).record(size as f64);
        match result {
            Ok(outcomes) => {
                let last = outcomes
                    .iter()
                    .filter_map(|o| o.as_ref().ok()?.position)
                    .max();
                if let Some(last) = last {
                    commits.send_if_modified(|p| (last > *p).then(|| *p = last).is_some());
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    if let Some(reply) = reply {
                        let _ = reply.send(outcome.map_err(WriteError::from));
                    }
                }
            }
            Err(e) => {
                // While the store is out of service (logged once, by the store), every batch
                // fails at once: not worth a line each.
                let answer = if e.is_outage() {
                    if !matches!(e, crate::store::StoreError::Unavailable) {
                        tracing::error!(error = %e, batch = size, "group commit failed; nothing of the batch is stored");
                    }
                    WriteError::Storage
                } else {
                    tracing::error!(error = %e, batch = size, "group commit refused; nothing of the batch is stored");
                    WriteError::Failed
                };
                replies
                    .into_iter()
                    .flatten()
                    .for_each(|r| drop(r.send(Err(answer.clone()))));
            }
        }
    }
}

/// The negative control's bug: registrations are answered as if stored, then the commit
/// waits a little, so that a crash in between loses acknowledged registrations.
async fn ack_registrations_early(commands: &[Command], replies: &mut [Option<Reply>]) {
    let mut acked = false;
    for (command, reply) in commands.iter().zip(replies.iter_mut()) {
        if matches!(command, Command::Register { .. })
            && let Some(reply) = reply.take()
        {
            // Ids the store has not assigned yet: the reply is as wrong as the ack.
            let unassigned = Outcome {
                payment_id: Some(crate::domain::PaymentId(0)),
                position: Some(crate::domain::Position(0)),
                ..Outcome::default()
            };
            let _ = reply.send(Ok(unassigned));
            acked = true;
        }
    }
    if acked {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
