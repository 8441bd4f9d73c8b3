//! The shipping actor (the seller's side): tails the log and makes exactly one pending
//! shipment for each `OrderPlaced`, in the same commit as its checkpoint, so a crash repeats
//! a batch (the store skips orders that have a shipment) and never skips one. It is never on
//! an order's path: paused (`POST /admin/shipping/pause`, kept across restarts) or down, it
//! only falls behind, and catches up when it runs again.

use super::kernel::{LogTail, Writer};
use crate::auth::AuditEntry;
use crate::domain::{OrderEvent, Payload, Position};
use crate::store::{self, SHIPPING, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use tokio::sync::watch;

pub struct ShippingActor;

pub struct ShippingArgs {
    pub store: Store,
    pub writer: Writer,
    pub commits: watch::Receiver<Position>,
    /// Whether shipping is paused, shared with the handle (which reports it).
    pub paused: Arc<watch::Sender<bool>>,
}

/// With replicas, how often a paused shipping reader looks whether it was resumed.
const PAUSED_LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

pub struct ShippingState {
    tail: LogTail,
    paused: Arc<watch::Sender<bool>>,
}

pub enum ShippingMessage {
    /// Make the shipments of every order placed after the checkpoint (unless paused).
    CatchUp,
    /// Pause (`true`) or resume (`false`), recorded with the admin action that asked.
    Pause(bool, AuditEntry, RpcReplyPort<Result<(), String>>),
}

impl Actor for ShippingActor {
    type Msg = ShippingMessage;
    type State = ShippingState;
    type Arguments = ShippingArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ShippingArgs,
    ) -> Result<ShippingState, ActorProcessingErr> {
        let paused = args
            .store
            .meta(store::SHIPPING_PAUSED)
            .await?
            .is_some_and(|v| v == [1]);
        args.paused.send_replace(paused);
        metrics::gauge!(names::SHIPPING_PAUSED).set(f64::from(u8::from(paused)));
        let tail = LogTail::start(
            SHIPPING,
            names::SHIPPING_LAG,
            args.store,
            args.writer,
            args.commits,
            &myself,
            || ShippingMessage::CatchUp,
        )
        .await?;
        Ok(ShippingState {
            tail,
            paused: args.paused,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut ShippingState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ShippingMessage::CatchUp => {
                let caught_up = state.catch_up(&myself).await;
                state.tail.unless_outage(caught_up)?
            }
            ShippingMessage::Pause(paused, audit, reply) => {
                let write = store::SetShippingPaused { paused, audit };
                let result = state.tail.writer().write(write).await;
                if result.is_ok() {
                    state.paused.send_replace(paused);
                    metrics::gauge!(names::SHIPPING_PAUSED).set(f64::from(u8::from(paused)));
                    tracing::info!(paused, "shipping paused or resumed");
                    if !paused {
                        myself.send_message(ShippingMessage::CatchUp)?;
                    }
                }
                let _ = reply.send(result.map_err(|e| e.to_string()));
            }
        }
        Ok(())
    }
}

impl ShippingState {
    async fn catch_up(
        &mut self,
        myself: &ActorRef<ShippingMessage>,
    ) -> Result<(), ActorProcessingErr> {
        if self.tail.store().bus_log().is_some() {
            // Another replica may have paused or resumed shipping.
            let stored = self.tail.store().meta(store::SHIPPING_PAUSED).await?;
            let paused = stored.is_some_and(|v| v == [1]);
            if self.paused.send_replace(paused) != paused {
                metrics::gauge!(names::SHIPPING_PAUSED).set(f64::from(u8::from(paused)));
            }
            if paused {
                // Nothing else wakes this reader when another replica resumes shipping.
                let myself = myself.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(PAUSED_LOOK_AGAIN).await;
                    let _ = myself.send_message(ShippingMessage::CatchUp);
                });
            }
        }
        if *self.paused.borrow() {
            return Ok(());
        }
        let events = self.tail.batch().await?;
        let orders: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::Order(OrderEvent::Placed { order }) => Some(order.clone()),
                _ => None,
            })
            .collect();
        let made = orders.len();
        let more = self
            .tail
            .advance(&events, |checkpoint| store::CreateShipments {
                orders,
                checkpoint,
            })
            .await?;
        if made > 0 {
            // A batch repeated after a crash makes none again; this counts it twice.
            metrics::counter!(names::SHIPMENTS, "status" => "created").increment(made as u64);
        }
        if more {
            myself.send_message(ShippingMessage::CatchUp)?;
        }
        Ok(())
    }
}
