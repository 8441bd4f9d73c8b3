//! The projector (the seed's mypage service, CQRS). It tails the event log from its own
//! durable checkpoint and folds each event into its customer's [`Mypage`]; the rows the
//! events change and the checkpoint commit together, so the stored views are always exactly
//! the fold of the log up to the checkpoint. After each commit it puts the new views in [`Views`], the in-memory copy
//! that `GET /mypages` reads, and then publishes the position it has applied, which is what
//! `minPosition` waits for.

pub mod handle;

use super::kernel::{LogTail, Writer};
use crate::domain::mypage::Mypage;
use crate::domain::{CustomerId, Position, Timestamp};
use crate::store::{self, PROJECTOR, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Views kept in memory at most; past it the copy is emptied and refills as customers' events
/// come in (reads of a customer not in memory go to the stored view).
const CACHED_VIEWS: usize = 100_000;

/// The views in memory and the position they have applied, shared with readers. It outlives
/// projector incarnations, but each incarnation starts it empty; it only ever holds views
/// that are committed.
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

    /// Empties the copy in memory; reads go to the stored views until it refills.
    fn forget(&self) {
        self.cache.write().unwrap().clear();
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
    pub writer: Writer,
    pub commits: watch::Receiver<Position>,
    pub views: Arc<Views>,
}

pub struct ProjectorState {
    tail: LogTail,
    views: Arc<Views>,
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
        // What the incarnation before kept may lack its last write, which can commit after
        // that incarnation gave up on it: from here every view is built from the store.
        args.views.forget();
        let tail = LogTail::start(
            PROJECTOR,
            names::PROJECTOR_LAG,
            args.store,
            args.writer,
            args.commits,
            &myself,
            || ProjectorMessage::CatchUp,
        )
        .await?;
        let checkpoint = tail.checkpoint().position();
        args.views.applied.send_if_modified(|p| {
            let moved = checkpoint > *p;
            *p = (*p).max(checkpoint);
            moved
        });
        Ok(ProjectorState {
            tail,
            views: args.views,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut ProjectorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProjectorMessage::CatchUp => {
                let caught_up = state.catch_up(&myself).await;
                state.tail.unless_outage(caught_up)?
            }
            ProjectorMessage::Panic => panic!("test hook: the projector panics"),
        }
        Ok(())
    }
}

impl ProjectorState {
    async fn catch_up(
        &mut self,
        myself: &ActorRef<ProjectorMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let events = self.tail.batch().await?;
        if events.is_empty() {
            return Ok(());
        }
        // Each touched customer's view as committed: in memory, else stored, else empty.
        let mut touched: Vec<CustomerId> = Vec::new();
        let mut views: HashMap<CustomerId, Mypage> = HashMap::new();
        for event in &events {
            if views.contains_key(&event.customer_id) {
                continue;
            }
            if let Some(view) = self.views.cached(&event.customer_id) {
                views.insert(event.customer_id.clone(), (*view).clone());
            } else {
                touched.push(event.customer_id.clone());
                views.insert(
                    event.customer_id.clone(),
                    Mypage::empty(event.customer_id.clone()),
                );
            }
        }
        for customer in touched {
            if let Some(view) = self.tail.store().mypage(&customer).await? {
                views.insert(view.customer_id.clone(), view);
            }
        }
        let mut changes = Vec::new();
        for event in &events {
            if let Some(view) = views.get_mut(&event.customer_id) {
                view.apply(event, &mut changes);
            }
        }
        let more = self
            .tail
            .advance(&events, |checkpoint| store::ProjectViews {
                changes,
                checkpoint,
            })
            .await?;
        self.views.put(views.into_values().map(Arc::new).collect());
        self.views
            .applied
            .send_replace(self.tail.checkpoint().position());
        let now = Timestamp::now();
        for event in &events {
            let delay = (now.0 - event.recorded_at.0).max(0) as f64 / 1_000.0;
            metrics::histogram!(names::PROJECTION_DELAY).record(delay);
        }
        if more {
            myself.send_message(ProjectorMessage::CatchUp)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::kernel::{Slot, WriteError};
    use crate::actors::store_writer::StoreWriterMessage;
    use crate::domain::mypage::RECENT_MESSAGES;
    use crate::store::Redb;
    use crate::store::testing::register;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    type Held = Arc<Mutex<Vec<StoreWriterMessage>>>;

    /// A store writer that commits each write at once, except while `hold` is set: then it
    /// keeps the write, and its caller waits.
    struct SlowWriter;

    impl Actor for SlowWriter {
        type Msg = StoreWriterMessage;
        type State = (Redb, Arc<AtomicBool>, Held);
        type Arguments = Self::State;

        async fn pre_start(
            &self,
            _myself: ActorRef<Self::Msg>,
            args: Self::State,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(args)
        }

        async fn handle(
            &self,
            _myself: ActorRef<Self::Msg>,
            message: Self::Msg,
            (store, hold, held): &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if hold.load(Ordering::SeqCst) {
                held.lock().unwrap().push(message);
            } else {
                commit(store, message);
            }
            Ok(())
        }
    }

    fn commit(store: &Redb, StoreWriterMessage::Write(command, reply): StoreWriterMessage) {
        let outcome = store.commit(&[command]).unwrap().remove(0);
        let _ = reply.send(outcome.map_err(WriteError::from));
    }

    fn alice() -> CustomerId {
        CustomerId::parse("alice").unwrap()
    }

    /// What `GET /mypages/alice` reads: the view in memory, else the stored one.
    fn read(views: &Views, store: &Redb) -> Mypage {
        match views.cached(&alice()) {
            Some(view) => (*view).clone(),
            None => store.mypage(&alice()).unwrap().unwrap(),
        }
    }

    #[tokio::test]
    async fn a_restarted_projector_builds_on_the_stored_views_not_on_what_an_earlier_one_kept() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let db = store.embedded().unwrap().clone();
        let mut full = Position(0);
        for id in 1..=RECENT_MESSAGES as u64 {
            full = register(&db, id, &alice());
        }
        let (hold, held) = (Arc::new(AtomicBool::new(false)), Held::default());
        let state = (db.clone(), hold.clone(), held.clone());
        let (writer, _) = Actor::spawn(None, SlowWriter, state).await.unwrap();
        let slot = Slot::default();
        slot.set(Some(writer));
        let views = Arc::new(Views::default());
        let (_commits, commits) = watch::channel(Position(0));
        let args = || ProjectorArgs {
            store: store.clone(),
            writer: Writer::new(slot.clone(), Duration::from_millis(200)),
            commits: commits.clone(),
            views: views.clone(),
        };
        let wait = Duration::from_secs(5);

        let (first, ended) = Actor::spawn(None, ProjectorActor, args()).await.unwrap();
        assert!(views.reached(full, wait).await);
        // The write of the 21st event outlasts the projector's wait: it fails, and the write
        // commits afterwards.
        hold.store(true, Ordering::SeqCst);
        let late = register(&db, 21, &alice());
        first.send_message(ProjectorMessage::CatchUp).unwrap();
        ended.await.unwrap();
        hold.store(false, Ordering::SeqCst);
        for write in held.lock().unwrap().drain(..) {
            commit(&db, write);
        }

        let (second, _) = Actor::spawn(None, ProjectorActor, args()).await.unwrap();
        assert_eq!(views.applied(), late);
        assert_eq!(
            read(&views, &db).recent[0].event_id,
            late,
            "a read at the applied position shows the event"
        );
        let next = register(&db, 22, &alice());
        second.send_message(ProjectorMessage::CatchUp).unwrap();
        assert!(views.reached(next, wait).await);
        let stored = db.mypage(&alice()).unwrap().unwrap();
        assert_eq!(
            stored.recent.len(),
            RECENT_MESSAGES,
            "the stored view keeps its bound"
        );
        assert_eq!(read(&views, &db), stored);
        second.stop(None);
    }
}
