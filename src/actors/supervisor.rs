//! The root supervisor: starts the store writer, the notifier, the projector, the payment actor,
//! the reconciler and the paymethods router, restarts a failed one with exponential backoff within a restart
//! budget (past it, it stops trying and readiness fails), and on shutdown drains them in
//! dependency order: the router and its aggregates first, then the notifier, the projector
//! and the reconciler, then payment, then the store writer last.

use super::breaker::Breaker;
use super::notifier::WebhookChannel;
use super::notifier::{NotifierActor, NotifierArgs, NotifierMessage};
use super::payment::{PaymentActor, PaymentArgs};
use super::paymethod::AggregateContext;
use super::projector::{ProjectorActor, ProjectorArgs, ProjectorMessage, Views};
use super::reconciler::{ReconcilerActor, ReconcilerArgs, ReconcilerMessage};
use super::router::{RouterActor, RouterArgs, RouterMessage};
use super::slot::Slot;
use super::store_writer::{StoreWriterActor, StoreWriterArgs};
use crate::config::ReconcileConfig;
use crate::domain::Position;
use crate::provider::PaymentSystem;
use crate::store::Store;
use crate::telemetry::names;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Restarts allowed within `RESTART_WINDOW` before the supervisor gives up.
const RESTART_BUDGET: usize = 10;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// How long shutdown waits for each child to drain.
const DRAIN_WAIT: Duration = Duration::from_secs(15);

pub struct RootActor;

pub struct RootArgs {
    pub store: Store,
    pub system: PaymentSystem,
    pub breaker: Breaker,
    pub max_in_flight: usize,
    pub max_batch: usize,
    pub ctx: Arc<AggregateContext>,
    pub router: Slot<RouterMessage>,
    /// Cleared when the restart budget is spent.
    pub healthy: Arc<AtomicBool>,
    /// The last committed event position, published by the store writer.
    pub commits: Arc<watch::Sender<Position>>,
    pub notifier: Slot<NotifierMessage>,
    pub webhook: Option<WebhookChannel>,
    pub projector: Slot<ProjectorMessage>,
    pub views: Arc<Views>,
    pub reconciler: Slot<ReconcilerMessage>,
    pub reconcile: ReconcileConfig,
    pub ack_before_commit: bool,
    pub aggregates: crate::config::AggregateLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    StoreWriter,
    Notifier,
    Projector,
    Payment,
    Reconciler,
    Router,
}

impl Child {
    fn name(self) -> &'static str {
        match self {
            Self::StoreWriter => "store_writer",
            Self::Notifier => "notifier",
            Self::Projector => "projector",
            Self::Payment => "payment",
            Self::Reconciler => "reconciler",
            Self::Router => "router",
        }
    }
}

pub struct RootState {
    args: RootArgs,
    children: HashMap<ActorId, Child>,
    restarts: VecDeque<Instant>,
    shutting_down: bool,
}

pub enum RootMessage {
    /// Start `Child` again (sent to itself after the backoff).
    Restart(Child),
    /// Drain every child in order; the reply comes when they have stopped.
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
            args,
            children: HashMap::new(),
            restarts: VecDeque::new(),
            shutting_down: false,
        };
        for child in [
            Child::StoreWriter,
            Child::Notifier,
            Child::Projector,
            Child::Payment,
            Child::Reconciler,
            Child::Router,
        ] {
            state.start(&myself, child).await?;
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
            RootMessage::Restart(child) if !state.shutting_down => {
                if let Err(e) = state.start(&myself, child).await {
                    tracing::error!(error = %e, child = child.name(), "restart failed");
                    state.schedule_restart(&myself, child);
                }
            }
            RootMessage::Restart(_) => {}
            RootMessage::Shutdown(reply) => {
                state.shutdown().await;
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
        let Some(child) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        if state.shutting_down {
            return Ok(());
        }
        tracing::error!(
            child = child.name(),
            error = failure.as_deref().unwrap_or("stopped"),
            "child of the root supervisor ended"
        );
        state.clear_slot(child);
        state.schedule_restart(&myself, child);
        Ok(())
    }
}

impl RootState {
    async fn start(
        &mut self,
        myself: &ActorRef<RootMessage>,
        child: Child,
    ) -> Result<(), ActorProcessingErr> {
        let supervisor = myself.get_cell();
        let a = &self.args;
        let id = match child {
            Child::StoreWriter => {
                let args = StoreWriterArgs {
                    store: a.store.clone(),
                    max_batch: a.max_batch,
                    commits: a.commits.clone(),
                    ack_before_commit: a.ack_before_commit,
                };
                let (actor, _) =
                    Actor::spawn_linked(None, StoreWriterActor, args, supervisor).await?;
                a.ctx.writer.set(Some(actor.clone()));
                actor.get_id()
            }
            Child::Notifier => {
                let args = NotifierArgs {
                    store: a.store.clone(),
                    writer: a.ctx.writer.clone(),
                    commits: a.commits.subscribe(),
                    write_wait: a.ctx.write_wait,
                    webhook: a.webhook.clone(),
                };
                let (actor, _) = Actor::spawn_linked(None, NotifierActor, args, supervisor).await?;
                a.notifier.set(Some(actor.clone()));
                actor.get_id()
            }
            Child::Projector => {
                let args = ProjectorArgs {
                    store: a.store.clone(),
                    writer: a.ctx.writer.clone(),
                    commits: a.commits.subscribe(),
                    write_wait: a.ctx.write_wait,
                    views: a.views.clone(),
                };
                let (actor, _) =
                    Actor::spawn_linked(None, ProjectorActor, args, supervisor).await?;
                a.projector.set(Some(actor.clone()));
                actor.get_id()
            }
            Child::Payment => {
                let args = PaymentArgs {
                    system: a.system.clone(),
                    breaker: a.breaker.clone(),
                    max_in_flight: a.max_in_flight,
                };
                let (actor, _) = Actor::spawn_linked(None, PaymentActor, args, supervisor).await?;
                a.ctx.payment.set(Some(actor.clone()));
                actor.get_id()
            }
            Child::Reconciler => {
                let args = ReconcilerArgs {
                    store: a.store.clone(),
                    writer: a.ctx.writer.clone(),
                    system: a.system.clone(),
                    after: a.reconcile.after,
                    retention: a.reconcile.retention,
                    breaker: a.breaker.clone(),
                };
                let (actor, _) =
                    Actor::spawn_linked(None, ReconcilerActor, args, supervisor).await?;
                a.reconciler.set(Some(actor.clone()));
                actor.get_id()
            }
            Child::Router => {
                let args = RouterArgs {
                    ctx: a.ctx.clone(),
                    limits: a.aggregates.clone(),
                };
                let (actor, _) = Actor::spawn_linked(None, RouterActor, args, supervisor).await?;
                a.router.set(Some(actor.clone()));
                actor.get_id()
            }
        };
        self.children.insert(id, child);
        Ok(())
    }

    fn clear_slot(&mut self, child: Child) {
        match child {
            Child::StoreWriter => self.args.ctx.writer.set(None),
            Child::Notifier => self.args.notifier.set(None),
            Child::Projector => self.args.projector.set(None),
            Child::Payment => self.args.ctx.payment.set(None),
            Child::Reconciler => self.args.reconciler.set(None),
            Child::Router => self.args.router.set(None),
        }
    }

    /// Restarts after 100 ms · 2^(recent restarts), at most 5 s; past the budget, gives up.
    fn schedule_restart(&mut self, myself: &ActorRef<RootMessage>, child: Child) {
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
                child = child.name(),
                budget = RESTART_BUDGET,
                "restart budget spent; not restarting, readiness now fails"
            );
            self.args.healthy.store(false, Ordering::SeqCst);
            return;
        }
        let delay =
            Duration::from_millis(100 << self.restarts.len().min(6)).min(Duration::from_secs(5));
        self.restarts.push_back(now);
        metrics::counter!(names::ACTOR_RESTARTS, "actor" => child.name()).increment(1);
        myself.send_after(delay, move || RootMessage::Restart(child));
    }

    async fn shutdown(&mut self) {
        self.shutting_down = true;
        if let Ok(router) = self.args.router.get() {
            router.drain_children_and_wait(Some(DRAIN_WAIT)).await;
            let _ = router.drain_and_wait(Some(DRAIN_WAIT)).await;
        }
        if let Ok(notifier) = self.args.notifier.get() {
            let _ = notifier.drain_and_wait(Some(DRAIN_WAIT)).await;
        }
        if let Ok(projector) = self.args.projector.get() {
            let _ = projector.drain_and_wait(Some(DRAIN_WAIT)).await;
        }
        if let Ok(reconciler) = self.args.reconciler.get() {
            // Its next round is on a timer; whatever a round leaves undone waits in the store.
            let _ = reconciler.stop_and_wait(None, Some(DRAIN_WAIT)).await;
        }
        if let Ok(payment) = self.args.ctx.payment.get() {
            let _ = payment.drain_and_wait(Some(DRAIN_WAIT)).await;
        }
        if let Ok(writer) = self.args.ctx.writer.get() {
            let _ = writer.drain_and_wait(Some(DRAIN_WAIT)).await;
        }
    }
}
