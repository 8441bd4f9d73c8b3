//! The projector (the seed's mypage service, CQRS). It tails the event log from its own
//! durable checkpoint and folds each event into its customer's [`Mypage`]; the rows the
//! events change and the checkpoint commit together, so the stored views are always exactly
//! the fold of the log up to the checkpoint. After each commit it puts the new views in [`Views`], the in-memory copy
//! that `GET /mypages` reads, and then publishes the position it has applied, which is what
//! `minPosition` waits for.

use super::slot::Slot;
use super::store_writer::StoreWriterMessage;
use super::tail;
use crate::domain::mypage::Mypage;
use crate::domain::{CustomerId, Position, Timestamp};
use crate::store::{Command, PROJECTOR, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Views kept in memory at most; past it the copy is emptied and refills as customers' events
/// come in (reads of a customer not in memory go to the stored view).
const CACHED_VIEWS: usize = 100_000;

/// The views in memory and the position they have applied, shared with readers. It outlives
/// projector incarnations; it only ever holds views that are committed.
#[derive(Debug)]
pub struct Views {
    cache: RwLock<HashMap<CustomerId, Arc<Mypage>>>,
    applied: watch::Sender<Position>,
}

impl Default for Views {
    fn default() -> Self {
        Self {
            cache: RwLock::default(),
            applied: watch::Sender::new(Position(0)),
        }
    }
}

impl Views {
    /// The customer's view if it is in memory.
    pub fn cached(&self, customer: &CustomerId) -> Option<Arc<Mypage>> {
        self.cache.read().unwrap().get(customer).cloned()
    }

    /// The last event position applied (and committed).
    pub fn applied(&self) -> Position {
        *self.applied.borrow()
    }

    /// Waits at most `wait` until the views have applied `position`; false if they have not.
    pub async fn reached(&self, position: Position, wait: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        matches!(
            tokio::time::timeout(wait, rx.wait_for(|p| *p >= position)).await,
            Ok(Ok(_))
        )
    }

    fn put(&self, views: Vec<Arc<Mypage>>) {
        let mut cache = self.cache.write().unwrap();
        if cache.len() + views.len() > CACHED_VIEWS {
            cache.clear();
        }
        for view in views {
            cache.insert(view.customer_id.clone(), view);
        }
    }
}

pub struct ProjectorActor;

pub struct ProjectorArgs {
    pub store: Store,
    pub writer: Slot<StoreWriterMessage>,
    pub commits: watch::Receiver<Position>,
    pub write_wait: Duration,
    pub views: Arc<Views>,
}

pub struct ProjectorState {
    args: ProjectorArgs,
    checkpoint: Position,
    waker: JoinHandle<()>,
}

pub enum ProjectorMessage {
    /// Apply every event recorded after the checkpoint.
    CatchUp,
    /// Test hook: fail the way a bug would.
    Panic,
}

impl Actor for ProjectorActor {
    type Msg = ProjectorMessage;
    type State = ProjectorState;
    type Arguments = ProjectorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ProjectorArgs,
    ) -> Result<ProjectorState, ActorProcessingErr> {
        let checkpoint = tail::read(&args.store, |s| s.checkpoint(PROJECTOR)).await?;
        args.views.applied.send_if_modified(|p| {
            let moved = checkpoint > *p;
            *p = (*p).max(checkpoint);
            moved
        });
        let waker = tail::wake_on_commit(myself.clone(), args.commits.clone(), || {
            ProjectorMessage::CatchUp
        });
        myself.send_message(ProjectorMessage::CatchUp)?;
        Ok(ProjectorState {
            args,
            checkpoint,
            waker,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut ProjectorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProjectorMessage::CatchUp => state.catch_up(&myself).await?,
            ProjectorMessage::Panic => panic!("test hook: the projector panics"),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ProjectorState,
    ) -> Result<(), ActorProcessingErr> {
        state.waker.abort();
        Ok(())
    }
}

impl ProjectorState {
    async fn catch_up(
        &mut self,
        myself: &ActorRef<ProjectorMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let a = &self.args;
        let events = tail::events_after(&a.store, self.checkpoint).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            metrics::gauge!(names::PROJECTOR_LAG).set(tail::lag(&a.commits, self.checkpoint));
            return Ok(());
        };
        // Each touched customer's view as committed: in memory, else stored, else empty.
        let mut touched: Vec<CustomerId> = Vec::new();
        let mut views: HashMap<CustomerId, Mypage> = HashMap::new();
        for event in &events {
            if views.contains_key(&event.customer_id) {
                continue;
            }
            if let Some(view) = a.views.cached(&event.customer_id) {
                views.insert(event.customer_id.clone(), (*view).clone());
            } else {
                touched.push(event.customer_id.clone());
                views.insert(
                    event.customer_id.clone(),
                    Mypage::empty(event.customer_id.clone()),
                );
            }
        }
        let stored = tail::read(&a.store, move |s| {
            touched
                .into_iter()
                .map(|c| s.mypage(&c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
        for view in stored.into_iter().flatten() {
            views.insert(view.customer_id.clone(), view);
        }
        let mut changes = Vec::new();
        for event in &events {
            if let Some(view) = views.get_mut(&event.customer_id) {
                view.apply(event, &mut changes);
            }
        }
        let command = Command::ProjectViews {
            changes,
            checkpoint: last,
        };
        tail::write(&a.writer, command, a.write_wait).await?;
        self.checkpoint = last;
        a.views.put(views.into_values().map(Arc::new).collect());
        a.views.applied.send_replace(last);
        let now = Timestamp::now();
        for event in &events {
            let delay = (now.0 - event.recorded_at.0).max(0) as f64 / 1_000.0;
            metrics::histogram!(names::PROJECTION_DELAY).record(delay);
        }
        metrics::gauge!(names::PROJECTOR_LAG).set(tail::lag(&a.commits, self.checkpoint));
        if events.len() == tail::BATCH {
            myself.send_message(ProjectorMessage::CatchUp)?;
        }
        Ok(())
    }
}
