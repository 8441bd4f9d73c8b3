//! The paymethods router: maps ids to aggregate actors, starting one on its first message
//! (from the store) and allocating ids for registrations from blocks it reserves durably, so
//! an id is never handed out twice. It supervises the aggregates: when one stops or fails it
//! forgets it, and the next message starts a fresh incarnation.

use super::command::{CommandError, Done, Registration};
use super::paymethod::{AggregateContext, PaymethodActor, PaymethodArgs, PaymethodMessage};
use super::store_writer::StoreWriterMessage;
use crate::domain::PaymethodId;
use crate::store::Command;
use crate::telemetry::names;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;

/// How many ids one reservation takes from the store.
const ID_BLOCK: u64 = 1024;

pub struct RouterActor;

pub struct RouterArgs {
    pub ctx: Arc<AggregateContext>,
}

pub struct RouterState {
    live: HashMap<PaymethodId, ActorRef<PaymethodMessage>>,
    /// Messages for aggregates whose incarnation is draining, in arrival order.
    waiting: HashMap<PaymethodId, Vec<PaymethodMessage>>,
    ids: HashMap<ActorId, PaymethodId>,
    next_id: u64,
    reserved_end: u64,
    ctx: Arc<AggregateContext>,
}

pub enum RouterMessage {
    /// Allocate an id and register a new payment method under it.
    Register(Registration, RpcReplyPort<Result<Done, CommandError>>),
    /// Deliver a message to an aggregate, starting it if it is not live.
    Route(PaymethodId, PaymethodMessage),
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
            waiting: HashMap::new(),
            ids: HashMap::new(),
            next_id: 0,
            reserved_end: 0,
            ctx: args.ctx,
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
                state.ended(&myself, cell.get_id()).await
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(error = %error, "payment-method aggregate failed; the next message restarts it from the store");
                metrics::counter!(names::ACTOR_RESTARTS, "actor" => "paymethod").increment(1);
                state.ended(&myself, cell.get_id()).await;
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
        match self.activate(myself, id, true).await {
            Ok(actor) => {
                if let Err(e) = actor.send_message(PaymethodMessage::Register(registration, reply))
                {
                    tracing::error!(error = %e, "a new aggregate refused its registration");
                }
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    async fn route(
        &mut self,
        myself: &ActorRef<RouterMessage>,
        id: PaymethodId,
        message: PaymethodMessage,
    ) {
        // Messages for an incarnation that is still draining wait for it to end, so that
        // two actors never work on one aggregate at once.
        if let Some(waiting) = self.waiting.get_mut(&id) {
            waiting.push(message);
            return;
        }
        let actor = match self.live.get(&id) {
            Some(actor) => actor.clone(),
            None => match self.activate(myself, id, false).await {
                Ok(actor) => actor,
                Err(_) => return, // dropping the message drops its reply port: the caller sees Unavailable
            },
        };
        match actor.send_message(message) {
            Ok(()) => {}
            // A draining incarnation refuses new messages and hands them back.
            Err(ractor::MessagingErr::SendErr(back)) => {
                self.waiting.entry(id).or_default().push(back)
            }
            Err(_) => {}
        }
    }

    /// An aggregate stopped or failed: forget it, and hand what waited for it to a new one.
    async fn ended(&mut self, myself: &ActorRef<RouterMessage>, actor: ActorId) {
        let Some(id) = self.forget(actor) else {
            return;
        };
        for message in self.waiting.remove(&id).unwrap_or_default() {
            self.route(myself, id, message).await;
        }
    }

    async fn activate(
        &mut self,
        myself: &ActorRef<RouterMessage>,
        id: PaymethodId,
        fresh: bool,
    ) -> Result<ActorRef<PaymethodMessage>, CommandError> {
        let args = PaymethodArgs {
            id,
            fresh,
            ctx: self.ctx.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, PaymethodActor, args, myself.get_cell())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, %id, "could not start a payment-method aggregate");
                CommandError::Unavailable
            })?;
        self.ids.insert(actor.get_id(), id);
        self.live.insert(id, actor.clone());
        metrics::counter!(names::AGGREGATE_ACTIVATIONS).increment(1);
        metrics::gauge!(names::AGGREGATES_LIVE).set(self.live.len() as f64);
        Ok(actor)
    }

    /// Forgets a stopped actor; returns the aggregate it was live for.
    fn forget(&mut self, actor: ActorId) -> Option<PaymethodId> {
        let id = self.ids.remove(&actor)?;
        let was_live = self.live.get(&id).is_some_and(|a| a.get_id() == actor);
        if was_live {
            self.live.remove(&id);
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
