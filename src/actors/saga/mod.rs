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
//! others go on meanwhile.

mod steps;

use super::kernel::{Aggregates, LogTail, Writer};
use super::order::OrderAggregate;
use super::shipment::ShipmentAggregate;
use crate::domain::order::SagaStep;
use crate::domain::{Event, OrderEvent, OrderId, Payload, Position, ShipmentEvent};
use crate::store::{self, SAGA, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Steps carried out at once, over all orders.
const IN_FLIGHT: usize = 32;
/// The first wait before a failed step runs again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct SagaActor;

pub struct SagaArgs {
    pub store: Store,
    pub writer: Writer,
    pub commits: watch::Receiver<Position>,
    pub orders: Aggregates<OrderAggregate>,
    pub shipments: Aggregates<ShipmentAggregate>,
}

/// A step waiting to be carried out.
#[derive(Debug, Clone, Copy)]
struct Pending {
    failures: u32,
    /// Not before this (after a failure).
    due: Instant,
}

pub struct SagaState {
    tail: LogTail,
    steps: steps::Steps,
    pending: BTreeMap<(OrderId, SagaStep), Pending>,
    /// Orders with a step running.
    running: HashSet<OrderId>,
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
        let now = Instant::now();
        let stored = args.store.saga_steps()?;
        let pending = stored
            .into_iter()
            .map(|key| {
                (
                    key,
                    Pending {
                        failures: 0,
                        due: now,
                    },
                )
            })
            .collect();
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
            pending,
            running: HashSet::new(),
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
            SagaMessage::CatchUp => state.catch_up(&myself).await?,
            SagaMessage::Drive => state.drive(&myself),
            SagaMessage::Ended(order, step, ok) => {
                state.running.remove(&order);
                state.ended(&myself, order, step, ok);
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
        let now = Instant::now();
        for key in planned {
            self.pending.entry(key).or_insert(Pending {
                failures: 0,
                due: now,
            });
        }
        self.count_pending();
        self.drive(myself);
        if more {
            myself.send_message(SagaMessage::CatchUp)?;
        }
        Ok(())
    }

    /// Starts every due step whose order has none running, up to [`IN_FLIGHT`].
    fn drive(&mut self, myself: &ActorRef<SagaMessage>) {
        let now = Instant::now();
        let mut next_due: Option<Instant> = None;
        let due: Vec<(OrderId, SagaStep)> = self
            .pending
            .iter()
            .filter(|((order, _), p)| {
                if p.due > now {
                    next_due = Some(next_due.map_or(p.due, |d| d.min(p.due)));
                    return false;
                }
                !self.running.contains(order)
            })
            .map(|(key, _)| *key)
            .collect();
        for (order, step) in due {
            if self.running.len() >= IN_FLIGHT {
                break;
            }
            if !self.running.insert(order) {
                continue;
            }
            let steps = self.steps.clone();
            let reply = myself.clone();
            tokio::spawn(async move {
                let ok = steps.carry_out(order, step).await;
                let _ = reply.send_message(SagaMessage::Ended(order, step, ok));
            });
        }
        if let Some(due) = next_due {
            myself.send_after(due.saturating_duration_since(now), || SagaMessage::Drive);
        }
    }

    fn ended(&mut self, myself: &ActorRef<SagaMessage>, order: OrderId, step: SagaStep, ok: bool) {
        let outcome = if ok { "done" } else { "failed" };
        metrics::counter!(names::SAGA_STEPS, "step" => step.as_str(), "outcome" => outcome)
            .increment(1);
        if ok {
            self.pending.remove(&(order, step));
        } else if let Some(p) = self.pending.get_mut(&(order, step)) {
            p.failures = p.failures.saturating_add(1);
            let wait = backoff(p.failures);
            p.due = Instant::now() + wait;
            tracing::warn!(%order, step = step.as_str(), failures = p.failures, ?wait, "a saga step failed; it will be retried");
            myself.send_after(wait, || SagaMessage::Drive);
        }
        self.count_pending();
    }

    fn count_pending(&self) {
        for step in [
            SagaStep::CancelShipment,
            SagaStep::Refund,
            SagaStep::MarkShipped,
        ] {
            let n = self.pending.keys().filter(|(_, s)| *s == step).count();
            metrics::gauge!(names::SAGA_PENDING, "step" => step.as_str()).set(n as f64);
        }
    }
}

/// The wait after `failures` failures in a row: doubling from [`FIRST_BACKOFF`], at most
/// [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_steps_wait_longer_each_time_up_to_half_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(7), Duration::from_secs(30));
        assert_eq!(backoff(1_000), Duration::from_secs(30));
    }
}
