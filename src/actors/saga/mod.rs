//! The cancellation saga (seed 004), a process manager with its own checkpoint. It tails the
//! log and turns events into steps, stored with its checkpoint in one commit:
//!
//! - `OrderCancellationRequested` → cancel the order's shipment (the shipment aggregate
//!   decides: cancelled, or shipped already);
//! - `ShipmentCancelled` → refund the order in full (`OrderCancelled`);
//! - `ShipmentShipped` → the order is shipped (`OrderShipped`, or `OrderCancellationRefused`
//!   when its cancellation was asked for).
//!
//! Steps are carried out apart from the tail, at most one per order at a time, each through
//! the aggregate it concerns; every one is idempotent, so a step repeated after a crash
//! changes nothing. A step that fails (a refund while the payment system is down) stays
//! stored and is retried with backoff, forever, counted in `paytree_saga_pending`; the
//! others go on meanwhile. With replicas, the one that takes the saga over (its lease) also
//! takes up the steps stored by the one before it, which may have died with them queued.

mod queue;
mod steps;

use super::kernel::{Aggregates, LogTail, Writer};
use super::order::OrderAggregate;
use super::shipment::ShipmentAggregate;
use crate::domain::order::SagaStep;
use crate::domain::{Event, OrderEvent, OrderId, Payload, Position, ShipmentEvent};
use crate::store::{self, SAGA, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::time::Instant;

/// Steps carried out at once, over all orders.
const IN_FLIGHT: usize = 32;

pub struct SagaActor;

pub struct SagaArgs {
    pub store: Store,
    pub writer: Writer,
    pub commits: watch::Receiver<Position>,
    pub orders: Aggregates<OrderAggregate>,
    pub shipments: Aggregates<ShipmentAggregate>,
}

pub struct SagaState {
    tail: LogTail,
    steps: steps::Steps,
    queue: queue::StepQueue,
    /// When a `Drive` is due from the timer, if one is set.
    timer: Option<Instant>,
}

pub enum SagaMessage {
    /// Plan the steps of every event after the checkpoint.
    CatchUp,
    /// Start the steps that are due.
    Drive,
    /// A step ended: carried out (and its row removed), or failed.
    Ended(OrderId, SagaStep, bool),
}

impl Actor for SagaActor {
    type Msg = SagaMessage;
    type State = SagaState;
    type Arguments = SagaArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SagaArgs,
    ) -> Result<SagaState, ActorProcessingErr> {
        let mut queue = queue::StepQueue::default();
        for key in args.store.saga_steps().await? {
            queue.add(key);
        }
        let steps = steps::Steps {
            store: args.store.clone(),
            writer: args.writer.clone(),
            orders: args.orders,
            shipments: args.shipments,
        };
        let tail = LogTail::start(
            SAGA,
            names::SAGA_LAG,
            args.store,
            args.writer,
            args.commits,
            &myself,
            || SagaMessage::CatchUp,
        )
        .await?;
        myself.send_message(SagaMessage::Drive)?;
        let state = SagaState {
            tail,
            steps,
            queue,
            timer: None,
        };
        state.count_pending();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut SagaState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SagaMessage::CatchUp => {
                let caught_up = state.catch_up(&myself).await;
                state.tail.unless_outage(caught_up)?
            }
            SagaMessage::Drive => {
                state.timer = None;
                state.drive(&myself);
            }
            SagaMessage::Ended(order, step, ok) => {
                state.ended(order, step, ok);
                state.drive(&myself);
            }
        }
        Ok(())
    }
}

/// The step an event asks for, if any.
fn step_for(event: &Event) -> Option<(OrderId, SagaStep)> {
    match &event.payload {
        Payload::Order(OrderEvent::CancellationRequested { order }) => {
            Some((order.id, SagaStep::CancelShipment))
        }
        Payload::Shipment(ShipmentEvent::Cancelled { shipment }) => {
            Some((shipment.order_id, SagaStep::Refund))
        }
        Payload::Shipment(ShipmentEvent::Shipped { shipment }) => {
            Some((shipment.order_id, SagaStep::MarkShipped))
        }
        _ => None,
    }
}

impl SagaState {
    async fn catch_up(&mut self, myself: &ActorRef<SagaMessage>) -> Result<(), ActorProcessingErr> {
        if self.tail.taken_over() {
            // The replica that read for the saga before this one (dead, or past its lease)
            // planned steps it may not have carried out: they are in the store only.
            let planned = self.tail.store().saga_steps().await;
            let planned = planned.inspect_err(|_| self.tail.not_picked_up())?;
            for key in planned {
                self.queue.add(key);
            }
        }
        let events = self.tail.batch().await?;
        let planned: Vec<_> = events.iter().filter_map(step_for).collect();
        let steps = planned.clone();
        let more = self
            .tail
            .advance(&events, |checkpoint| store::PlanSagaSteps {
                steps,
                checkpoint,
            })
            .await?;
        for key in planned {
            self.queue.add(key);
        }
        self.count_pending();
        self.drive(myself);
        if more {
            myself.send_message(SagaMessage::CatchUp)?;
        }
        Ok(())
    }

    /// Starts due steps (one per order) up to [`IN_FLIGHT`] running, and sets the timer for
    /// the next failed step's retry.
    fn drive(&mut self, myself: &ActorRef<SagaMessage>) {
        let now = Instant::now();
        while self.queue.running() < IN_FLIGHT {
            let Some((order, step)) = self.queue.start_next(now) else {
                break;
            };
            let steps = self.steps.clone();
            let reply = myself.clone();
            tokio::spawn(async move {
                let ok = steps.carry_out(order, step).await;
                let _ = reply.send_message(SagaMessage::Ended(order, step, ok));
            });
        }
        if let Some(due) = self.queue.next_due()
            && self.timer.is_none_or(|set| due < set)
        {
            self.timer = Some(due);
            myself.send_after(due.saturating_duration_since(now), || SagaMessage::Drive);
        }
        self.count_pending();
    }

    fn ended(&mut self, order: OrderId, step: SagaStep, ok: bool) {
        let outcome = if ok { "done" } else { "failed" };
        metrics::counter!(names::SAGA_STEPS, "step" => step.as_str(), "outcome" => outcome)
            .increment(1);
        if let Some((failures, wait)) = self.queue.ended((order, step), ok, Instant::now()) {
            tracing::warn!(%order, step = step.as_str(), failures, ?wait, "a saga step failed; it will be retried");
        }
    }

    fn count_pending(&self) {
        for step in [
            SagaStep::CancelShipment,
            SagaStep::Refund,
            SagaStep::MarkShipped,
        ] {
            let n = self.queue.count(step);
            metrics::gauge!(names::SAGA_PENDING, "step" => step.as_str()).set(n as f64);
        }
    }
}
