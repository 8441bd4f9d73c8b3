//! The root supervisor over a list of [`ChildSpec`]s: it starts them one after another, restarts
//! a child that fails or stops with exponential backoff within a restart budget (past it, it
//! stops trying and readiness fails), and on shutdown stops them last-started first, each the
//! way its spec says (draining, so nothing queued is lost, unless told otherwise).

use super::slot::Slot;
use crate::telemetry::names;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Restarts allowed within `RESTART_WINDOW` before the supervisor gives up.
const RESTART_BUDGET: usize = 10;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// How long shutdown waits for each child to stop.
const STOP_WAIT: Duration = Duration::from_secs(15);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How a child is stopped at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBy {
    /// Finish what is queued, then stop.
    Drain,
    /// Drain its own children first (a router's aggregates), then itself.
    DrainChildrenFirst,
    /// Stop now: what it would do next is kept in the store, not in its mailbox.
    Stop,
}

/// One child: its name, how to start an incarnation (which its spec puts in the slot its
/// users hold), and how to stop it.
pub struct ChildSpec {
    name: &'static str,
    start: Box<dyn Fn(ActorCell) -> BoxFuture<Result<ActorCell, SpawnErr>> + Send + Sync>,
    slot: Box<dyn Held>,
    stop_by: StopBy,
}

/// The type-erased side of a child's slot.
trait Held: Send + Sync {
    fn clear(&self);
    fn stop(&self, by: StopBy) -> BoxFuture<()>;
}

impl<M: ractor::Message> Held for Slot<M> {
    fn clear(&self) {
        self.set(None);
    }

    fn stop(&self, by: StopBy) -> BoxFuture<()> {
        let actor = self.get().ok();
        Box::pin(async move {
            let Some(actor) = actor else {
                return;
            };
            match by {
                StopBy::Drain => drop(actor.drain_and_wait(Some(STOP_WAIT)).await),
                StopBy::DrainChildrenFirst => {
                    actor.drain_children_and_wait(Some(STOP_WAIT)).await;
                    drop(actor.drain_and_wait(Some(STOP_WAIT)).await);
                }
                StopBy::Stop => drop(actor.stop_and_wait(None, Some(STOP_WAIT)).await),
            }
        })
    }
}

impl ChildSpec {
    /// A child whose incarnations `start` spawns (linked to the supervisor it is given) and
    /// `slot` holds.
    pub fn new<M, F, Fut>(name: &'static str, slot: Slot<M>, stop_by: StopBy, start: F) -> Self
    where
        M: ractor::Message,
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorRef<M>, SpawnErr>> + Send + 'static,
    {
        let held = slot.clone();
        let start = Arc::new(start);
        Self {
            name,
            start: Box::new(move |supervisor| {
                let (start, slot) = (start.clone(), held.clone());
                Box::pin(async move {
                    let actor = start(supervisor).await?;
                    slot.set(Some(actor.clone()));
                    Ok(actor.get_cell())
                })
            }),
            slot: Box::new(slot),
            stop_by,
        }
    }
}

pub struct RootActor;

pub struct RootArgs {
    /// The first is started first.
    pub children: Vec<ChildSpec>,
    /// Turned false when the restart budget is spent.
    pub healthy: Arc<watch::Sender<bool>>,
}

pub struct RootState {
    children: Vec<ChildSpec>,
    /// Running incarnations: actor → index in `children`.
    running: HashMap<ActorId, usize>,
    restarts: VecDeque<Instant>,
    healthy: Arc<watch::Sender<bool>>,
    shutting_down: bool,
}

pub enum RootMessage {
    /// Start child `n` again (sent to itself after the backoff).
    Restart(usize),
    /// Stop every child, last-started first; the reply comes when they have stopped.
    Shutdown(RpcReplyPort<()>),
}

impl Actor for RootActor {
    type Msg = RootMessage;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let mut state = RootState {
            children: args.children,
            running: HashMap::new(),
            restarts: VecDeque::new(),
            healthy: args.healthy,
            shutting_down: false,
        };
        for n in 0..state.children.len() {
            state.start(&myself, n).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootMessage::Restart(n) if !state.shutting_down => {
                if let Err(e) = state.start(&myself, n).await {
                    tracing::error!(error = %e, child = state.children[n].name, "restart failed");
                    state.schedule_restart(&myself, n);
                }
            }
            RootMessage::Restart(_) => {}
            RootMessage::Shutdown(reply) => {
                state.shutting_down = true;
                for child in state.children.iter().rev() {
                    child.slot.stop(child.stop_by).await;
                }
                let _ = reply.send(());
                myself.stop(None);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, Some(error.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            _ => return Ok(()),
        };
        let Some(n) = state.running.remove(&cell.get_id()) else {
            return Ok(());
        };
        if state.shutting_down {
            return Ok(());
        }
        let child = &state.children[n];
        tracing::error!(
            child = child.name,
            error = failure.as_deref().unwrap_or("stopped"),
            "child of the root supervisor ended"
        );
        child.slot.clear();
        state.schedule_restart(&myself, n);
        Ok(())
    }
}

impl RootState {
    async fn start(
        &mut self,
        myself: &ActorRef<RootMessage>,
        n: usize,
    ) -> Result<(), ActorProcessingErr> {
        let cell = (self.children[n].start)(myself.get_cell()).await?;
        self.running.insert(cell.get_id(), n);
        Ok(())
    }

    /// Restarts after 100 ms · 2^(recent restarts), at most 5 s; past the budget, gives up.
    fn schedule_restart(&mut self, myself: &ActorRef<RootMessage>, n: usize) {
        let name = self.children[n].name;
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= RESTART_BUDGET {
            tracing::error!(
                child = name,
                budget = RESTART_BUDGET,
                "restart budget spent; not restarting, readiness now fails"
            );
            self.healthy.send_replace(false);
            return;
        }
        let delay =
            Duration::from_millis(100 << self.restarts.len().min(6)).min(Duration::from_secs(5));
        self.restarts.push_back(now);
        metrics::counter!(names::ACTOR_RESTARTS, "actor" => name).increment(1);
        myself.send_after(delay, move || RootMessage::Restart(n));
    }
}
