//! The router of one aggregate kind: maps ids to host actors, starting one on its first
//! command, and hands new aggregates ids from blocks of the kind's sequence reserved durably
//! ahead of need. It never waits on the store: a host loads its own state, and reservations
//! run in a task of their own. It supervises the hosts:
//!
//! - when one stops or fails it forgets it, and the next command starts a fresh incarnation;
//!   commands that arrive while an incarnation drains wait for it to end, then go to the next;
//! - one that fails `quarantine_failures` times within the window is quarantined: its
//!   commands are refused (`Quarantined`) until an operator releases it, and every other
//!   aggregate goes on working;
//! - at most `max_live` aggregates are live: past that, the least recently used is evicted
//!   (it drains, so nothing queued is lost, and not before its command in progress is done);
//! - each aggregate's mailbox holds at most `mailbox` commands; past that, `Busy`.

use super::aggregate::{Aggregate, AggregateId, Command as _, Refusal};
use super::host::{AggregateHost, HostArgs, HostMessage, Start};
use super::ids::{ID_BLOCK, IdBlocks};
use super::mailbox::Queued;
use super::writer::Writer;
use crate::config::AggregateLimits;
use crate::store;
use crate::telemetry::names;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub struct RouterActor<A>(PhantomData<fn() -> A>);

impl<A> Default for RouterActor<A> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

pub struct RouterArgs<A: Aggregate> {
    pub services: Arc<A::Services>,
    /// Reserves blocks of ids.
    pub writer: Writer,
    pub limits: AggregateLimits,
    /// An aggregate idle this long passivates; the store keeps its state.
    pub idle_timeout: Duration,
}

/// A live incarnation.
struct Live<A: Aggregate> {
    actor: ActorRef<HostMessage<A>>,
    /// Commands sent to it and not yet taken from its mailbox.
    queued: Queued,
    /// Its place in the LRU ranking; `None` once it was told to go.
    used: Option<u64>,
}

pub struct RouterState<A: Aggregate> {
    live: HashMap<A::Id, Live<A>>,
    /// Least recently used first: use tick → aggregate.
    lru: BTreeMap<u64, A::Id>,
    tick: u64,
    /// Commands for aggregates whose incarnation is draining, first come first.
    waiting: HashMap<A::Id, Vec<HostMessage<A>>>,
    ids: HashMap<ActorId, A::Id>,
    /// Recent failures per aggregate, within the quarantine window.
    failures: HashMap<A::Id, VecDeque<Instant>>,
    quarantined: HashSet<A::Id>,
    id_blocks: IdBlocks,
    /// Creations waiting for a reserved id, first come first.
    creating: VecDeque<(A::Command, Start)>,
    services: Arc<A::Services>,
    writer: Writer,
    limits: AggregateLimits,
    idle_timeout: Duration,
}

pub enum RouterMessage<A: Aggregate> {
    /// Allocate an id and run the command on a new aggregate under it; [`Start`] as in
    /// [`HostMessage::Run`].
    Create(A::Command, Start),
    /// Run a command on an aggregate, starting its host if it is not live.
    Route(A::Id, A::Command, Start),
    /// Lift an aggregate's quarantine; the reply says whether it was quarantined.
    Release(A::Id, RpcReplyPort<bool>),
    /// A reservation of ids ended (sent by the router's own task): the first id of the block,
    /// or `None` if it failed.
    Reserved(Option<u64>),
}

impl<A: Aggregate> Actor for RouterActor<A> {
    type Msg = RouterMessage<A>;
    type State = RouterState<A>;
    type Arguments = RouterArgs<A>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RouterArgs<A>,
    ) -> Result<RouterState<A>, ActorProcessingErr> {
        Ok(RouterState {
            live: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            waiting: HashMap::new(),
            ids: HashMap::new(),
            failures: HashMap::new(),
            quarantined: HashSet::new(),
            id_blocks: IdBlocks::default(),
            creating: VecDeque::new(),
            services: args.services,
            writer: args.writer,
            limits: args.limits,
            idle_timeout: args.idle_timeout,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut RouterState<A>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMessage::Create(command, start) => {
                state.creating.push_back((command, start));
                state.create_waiting(&myself).await;
            }
            RouterMessage::Reserved(first) => {
                state.id_blocks.reserved(first);
                if first.is_none() {
                    for (command, _) in state.creating.drain(..) {
                        command.refuse(Refusal::Unavailable);
                    }
                }
                state.create_waiting(&myself).await;
            }
            RouterMessage::Route(id, command, start) => {
                state
                    .route(&myself, id, HostMessage::Run(command, start))
                    .await
            }
            RouterMessage::Release(id, reply) => {
                let was = state.quarantined.remove(&id);
                state.failures.remove(&id);
                if was {
                    tracing::info!(kind = A::KIND, %id, "aggregate released from quarantine");
                }
                metrics::gauge!(names::AGGREGATES_QUARANTINED, "kind" => A::KIND)
                    .set(state.quarantined.len() as f64);
                let _ = reply.send(was);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut RouterState<A>,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.ended(&myself, cell.get_id(), false).await
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(kind = A::KIND, error = %error, "aggregate failed; the next command restarts it from the store");
                metrics::counter!(names::ACTOR_RESTARTS, "actor" => A::KIND).increment(1);
                state.ended(&myself, cell.get_id(), true).await;
            }
            _ => {}
        }
        Ok(())
    }
}

impl<A: Aggregate> RouterState<A> {
    /// Starts the creations that wait, as far as reserved ids go, and reserves ahead.
    async fn create_waiting(&mut self, myself: &ActorRef<RouterMessage<A>>) {
        while !self.creating.is_empty() {
            let Some(id) = self.id_blocks.take() else {
                break;
            };
            if let Some((command, start)) = self.creating.pop_front() {
                let id = A::Id::from_sequence(id);
                self.deliver(myself, id, HostMessage::Run(command, start), true)
                    .await;
            }
        }
        if self.id_blocks.wants_more() {
            self.reserve(myself);
        }
    }

    /// Reserves a block of ids in a task of its own; the result comes back as `Reserved`.
    fn reserve(&mut self, myself: &ActorRef<RouterMessage<A>>) {
        self.id_blocks.reserving();
        let (writer, myself) = (self.writer.clone(), myself.clone());
        tokio::spawn(async move {
            let reserve = store::ReserveIds {
                sequence: A::KIND,
                count: ID_BLOCK,
            };
            let first = match writer.write(reserve).await {
                Ok(first) => Some(first),
                Err(e) => {
                    tracing::error!(kind = A::KIND, error = %e, "could not reserve ids");
                    None
                }
            };
            let _ = myself.send_message(RouterMessage::Reserved(first));
        });
    }

    async fn route(
        &mut self,
        myself: &ActorRef<RouterMessage<A>>,
        id: A::Id,
        message: HostMessage<A>,
    ) {
        if self.quarantined.contains(&id) {
            return message.refuse(Refusal::Quarantined);
        }
        // Messages for an incarnation that is still draining wait for it to end, so that
        // two actors never work on one aggregate at once.
        if let Some(waiting) = self.waiting.get_mut(&id) {
            if waiting.len() >= self.limits.mailbox {
                metrics::counter!(names::MAILBOX_REJECTIONS, "kind" => A::KIND).increment(1);
                return message.refuse(Refusal::Busy);
            }
            waiting.push(message);
            return;
        }
        self.deliver(myself, id, message, false).await;
    }

    /// Sends `message` to the live incarnation of `id`, starting one if there is none.
    async fn deliver(
        &mut self,
        myself: &ActorRef<RouterMessage<A>>,
        id: A::Id,
        message: HostMessage<A>,
        fresh: bool,
    ) {
        if !self.live.contains_key(&id)
            && let Err(refusal) = self.activate(myself, id, fresh).await
        {
            return message.refuse(refusal);
        }
        self.tick += 1;
        let tick = self.tick;
        let Some(live) = self.live.get_mut(&id) else {
            return message.refuse(Refusal::Unavailable);
        };
        let counted = matches!(message, HostMessage::Run(..));
        if counted && !live.queued.add_below(self.limits.mailbox) {
            metrics::counter!(names::MAILBOX_REJECTIONS, "kind" => A::KIND).increment(1);
            return message.refuse(Refusal::Busy);
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
                    live.queued.take();
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
                let _ = live.actor.send_message(HostMessage::Evict);
            }
        }
    }

    /// An aggregate stopped or failed: forget it, count a failure toward its quarantine,
    /// and hand what waited for it to a new incarnation (or refuse it, if quarantined).
    async fn ended(&mut self, myself: &ActorRef<RouterMessage<A>>, actor: ActorId, failed: bool) {
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

    fn count_failure(&mut self, id: A::Id) {
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
            tracing::error!(kind = A::KIND, %id, failures = recent.len(), "aggregate quarantined; an operator's release lets it try again");
            metrics::counter!(names::QUARANTINES, "actor" => A::KIND).increment(1);
            metrics::gauge!(names::AGGREGATES_QUARANTINED, "kind" => A::KIND)
                .set(self.quarantined.len() as f64);
        }
        // Forget aggregates whose failures have all aged out, so the map stays small.
        if self.failures.len() > 1024 {
            self.failures
                .retain(|_, r| r.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
    }

    /// Starts a host for `id`. Its state is loaded by the host itself, on its first command.
    async fn activate(
        &mut self,
        myself: &ActorRef<RouterMessage<A>>,
        id: A::Id,
        fresh: bool,
    ) -> Result<(), Refusal> {
        let queued = Queued::default();
        let args = HostArgs {
            id,
            fresh,
            services: self.services.clone(),
            queued: queued.clone(),
            idle_timeout: self.idle_timeout,
            reload_each_command: self.limits.reload_each_command,
        };
        let host = AggregateHost::<A>::default();
        let actor = match Actor::spawn_linked(None, host, args, myself.get_cell()).await {
            Ok((actor, _)) => actor,
            Err(e) => {
                tracing::error!(kind = A::KIND, error = %e, %id, "could not start an aggregate");
                self.count_failure(id);
                return Err(Refusal::Unavailable);
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
        metrics::counter!(names::AGGREGATE_ACTIVATIONS, "kind" => A::KIND).increment(1);
        metrics::gauge!(names::AGGREGATES_LIVE, "kind" => A::KIND).set(self.live.len() as f64);
        Ok(())
    }

    /// Forgets a stopped actor; returns the aggregate it was live for.
    fn forget(&mut self, actor: ActorId) -> Option<A::Id> {
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
        metrics::gauge!(names::AGGREGATES_LIVE, "kind" => A::KIND).set(self.live.len() as f64);
        was_live.then_some(id)
    }
}
