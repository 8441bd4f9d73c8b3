//! The paymethods router: maps ids to aggregate actors, starting one on its first message
//! (from the store) and allocating ids for registrations from blocks it reserves durably, so
//! an id is never handed out twice. It supervises the aggregates:
//!
//! - when one stops or fails it forgets it, and the next message starts a fresh incarnation;
//!   messages that arrive while an incarnation drains wait for it to end, then go to the next;
//! - one that fails `quarantine_failures` times within the window is quarantined: its
//!   commands get `Quarantined` until an operator releases it, and every other aggregate
//!   goes on working;
//! - at most `max_live` aggregates are live: past that, the least recently used is evicted
//!   (it drains, so nothing queued is lost, and not before its command in progress is done);
//! - each aggregate's mailbox holds at most `mailbox` commands; past that, `Busy`.

use super::command::{CommandError, Done, Registration};
use super::paymethod::{AggregateContext, PaymethodActor, PaymethodArgs, PaymethodMessage};
use super::store_writer::StoreWriterMessage;
use crate::config::AggregateLimits;
use crate::domain::PaymethodId;
use crate::store::Command;
use crate::telemetry::names;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::time::Instant;

/// How many ids one reservation takes from the store.
const ID_BLOCK: u64 = 1024;

pub struct RouterActor;

pub struct RouterArgs {
    pub ctx: Arc<AggregateContext>,
    pub limits: AggregateLimits,
}

/// A live incarnation.
struct Live {
    actor: ActorRef<PaymethodMessage>,
    /// Commands sent to it and not yet taken from its mailbox.
    queued: Arc<AtomicUsize>,
    /// Its place in the LRU order; `None` once it was told to go.
    used: Option<u64>,
}

pub struct RouterState {
    live: HashMap<PaymethodId, Live>,
    /// Least recently used first: use tick → aggregate.
    lru: BTreeMap<u64, PaymethodId>,
    tick: u64,
    /// Messages for aggregates whose incarnation is draining, in arrival order.
    waiting: HashMap<PaymethodId, Vec<PaymethodMessage>>,
    ids: HashMap<ActorId, PaymethodId>,
    /// Recent failures per aggregate, within the quarantine window.
    failures: HashMap<PaymethodId, VecDeque<Instant>>,
    quarantined: HashSet<PaymethodId>,
    next_id: u64,
    reserved_end: u64,
    ctx: Arc<AggregateContext>,
    limits: AggregateLimits,
}

pub enum RouterMessage {
    /// Allocate an id and register a new payment method under it.
    Register(Registration, RpcReplyPort<Result<Done, CommandError>>),
    /// Deliver a message to an aggregate, starting it if it is not live.
    Route(PaymethodId, PaymethodMessage),
    /// Lift an aggregate's quarantine; the reply says whether it was quarantined.
    Release(PaymethodId, RpcReplyPort<bool>),
}

impl Actor for RouterActor {
    type Msg = RouterMessage;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RouterArgs,
    ) -> Result<RouterState, ActorProcessingErr> {
        Ok(RouterState {
            live: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            waiting: HashMap::new(),
            ids: HashMap::new(),
            failures: HashMap::new(),
            quarantined: HashSet::new(),
            next_id: 0,
            reserved_end: 0,
            ctx: args.ctx,
            limits: args.limits,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMessage::Register(registration, reply) => {
                state.register(&myself, registration, reply).await;
            }
            RouterMessage::Route(id, message) => state.route(&myself, id, message).await,
            RouterMessage::Release(id, reply) => {
                let was = state.quarantined.remove(&id);
                state.failures.remove(&id);
                if was {
                    tracing::info!(%id, "payment-method aggregate released from quarantine");
                }
                metrics::gauge!(names::AGGREGATES_QUARANTINED).set(state.quarantined.len() as f64);
                let _ = reply.send(was);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.ended(&myself, cell.get_id(), false).await
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(error = %error, "payment-method aggregate failed; the next message restarts it from the store");
                metrics::counter!(names::ACTOR_RESTARTS, "actor" => "paymethod").increment(1);
                state.ended(&myself, cell.get_id(), true).await;
            }
            _ => {}
        }
        Ok(())
    }
}

impl RouterState {
    async fn register(
        &mut self,
        myself: &ActorRef<RouterMessage>,
        registration: Registration,
        reply: RpcReplyPort<Result<Done, CommandError>>,
    ) {
        let id = match self.allocate().await {
            Ok(id) => id,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        self.deliver(
            myself,
            id,
            PaymethodMessage::Register(Box::new(registration), reply),
            true,
        )
        .await;
    }

    async fn route(
        &mut self,
        myself: &ActorRef<RouterMessage>,
        id: PaymethodId,
        message: PaymethodMessage,
    ) {
        if self.quarantined.contains(&id) {
            return message.reject(CommandError::Quarantined);
        }
        // Messages for an incarnation that is still draining wait for it to end, so that
        // two actors never work on one aggregate at once.
        if let Some(waiting) = self.waiting.get_mut(&id) {
            if waiting.len() >= self.limits.mailbox {
                metrics::counter!(names::MAILBOX_REJECTIONS).increment(1);
                return message.reject(CommandError::Busy);
            }
            waiting.push(message);
            return;
        }
        self.deliver(myself, id, message, false).await;
    }

    /// Sends `message` to the live incarnation of `id`, starting one if there is none.
    async fn deliver(
        &mut self,
        myself: &ActorRef<RouterMessage>,
        id: PaymethodId,
        message: PaymethodMessage,
        fresh: bool,
    ) {
        if !self.live.contains_key(&id)
            && let Err(e) = self.activate(myself, id, fresh).await
        {
            return message.reject(e);
        }
        self.tick += 1;
        let tick = self.tick;
        let Some(live) = self.live.get_mut(&id) else {
            return message.reject(CommandError::Unavailable);
        };
        let counted = message.is_command();
        if counted {
            if live.queued.load(Ordering::Relaxed) >= self.limits.mailbox {
                metrics::counter!(names::MAILBOX_REJECTIONS).increment(1);
                return message.reject(CommandError::Busy);
            }
            live.queued.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(used) = live.used.as_mut() {
            self.lru.remove(used);
            *used = tick;
            self.lru.insert(tick, id);
        }
        match live.actor.send_message(message) {
            Ok(()) => {}
            // A draining incarnation refuses new messages and hands them back.
            Err(ractor::MessagingErr::SendErr(back)) => {
                if counted {
                    live.queued.fetch_sub(1, Ordering::Relaxed);
                }
                self.waiting.entry(id).or_default().push(back)
            }
            Err(_) => {}
        }
        self.evict_over_limit();
    }

    /// Tells the least recently used aggregates to go while more than `max_live` are live.
    fn evict_over_limit(&mut self) {
        while self.lru.len() > self.limits.max_live {
            let Some((_, id)) = self.lru.pop_first() else {
                return;
            };
            if let Some(live) = self.live.get_mut(&id) {
                live.used = None;
                let _ = live.actor.send_message(PaymethodMessage::Evict);
            }
        }
    }

    /// An aggregate stopped or failed: forget it, count a failure toward its quarantine,
    /// and hand what waited for it to a new incarnation (or refuse it, if quarantined).
    async fn ended(&mut self, myself: &ActorRef<RouterMessage>, actor: ActorId, failed: bool) {
        let Some(id) = self.forget(actor) else {
            return;
        };
        if failed {
            self.count_failure(id);
        }
        for message in self.waiting.remove(&id).unwrap_or_default() {
            self.route(myself, id, message).await;
        }
    }

    fn count_failure(&mut self, id: PaymethodId) {
        let now = Instant::now();
        let window = self.limits.quarantine_window;
        let recent = self.failures.entry(id).or_default();
        recent.push_back(now);
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            recent.pop_front();
        }
        if recent.len() >= self.limits.quarantine_failures && self.quarantined.insert(id) {
            tracing::error!(%id, failures = recent.len(), "payment-method aggregate quarantined; POST /admin/paymethods/{id}/release to let it try again");
            metrics::counter!(names::QUARANTINES, "actor" => "paymethod").increment(1);
            metrics::gauge!(names::AGGREGATES_QUARANTINED).set(self.quarantined.len() as f64);
        }
        // Forget aggregates whose failures have all aged out, so the map stays small.
        if self.failures.len() > 1024 {
            self.failures
                .retain(|_, r| r.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
    }

    async fn activate(
        &mut self,
        myself: &ActorRef<RouterMessage>,
        id: PaymethodId,
        fresh: bool,
    ) -> Result<(), CommandError> {
        let queued = Arc::new(AtomicUsize::new(0));
        let args = PaymethodArgs {
            id,
            fresh,
            ctx: self.ctx.clone(),
            queued: queued.clone(),
        };
        let spawned = Actor::spawn_linked(None, PaymethodActor, args, myself.get_cell()).await;
        let actor = match spawned {
            Ok((actor, _)) => actor,
            Err(e) => {
                tracing::error!(error = %e, %id, "could not start a payment-method aggregate");
                self.count_failure(id);
                return Err(CommandError::Unavailable);
            }
        };
        self.ids.insert(actor.get_id(), id);
        self.tick += 1;
        self.lru.insert(self.tick, id);
        self.live.insert(
            id,
            Live {
                actor,
                queued,
                used: Some(self.tick),
            },
        );
        metrics::counter!(names::AGGREGATE_ACTIVATIONS).increment(1);
        metrics::gauge!(names::AGGREGATES_LIVE).set(self.live.len() as f64);
        Ok(())
    }

    /// Forgets a stopped actor; returns the aggregate it was live for.
    fn forget(&mut self, actor: ActorId) -> Option<PaymethodId> {
        let id = self.ids.remove(&actor)?;
        let was_live = self
            .live
            .get(&id)
            .is_some_and(|l| l.actor.get_id() == actor);
        if was_live
            && let Some(live) = self.live.remove(&id)
            && let Some(used) = live.used
        {
            self.lru.remove(&used);
        }
        metrics::gauge!(names::AGGREGATES_LIVE).set(self.live.len() as f64);
        was_live.then_some(id)
    }

    async fn allocate(&mut self) -> Result<PaymethodId, CommandError> {
        if self.next_id >= self.reserved_end {
            let writer = self.ctx.writer.get()?;
            let build =
                |reply| StoreWriterMessage::Write(Command::ReserveIds { count: ID_BLOCK }, reply);
            let first = match super::ask(&writer, build, self.ctx.write_wait).await {
                Ok(Ok(outcome)) => outcome.first_id,
                _ => None,
            }
            .ok_or(CommandError::Unavailable)?;
            self.next_id = first;
            self.reserved_end = first + ID_BLOCK;
        }
        let id = PaymethodId(self.next_id);
        self.next_id += 1;
        Ok(id)
    }
}
