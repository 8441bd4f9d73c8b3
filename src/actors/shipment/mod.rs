//! The shipment aggregate (the seller's side of seed 004): one actor per live shipment, the
//! only writer of it. The seller ships it; the saga cancels it; whichever command runs first
//! decides, and the other is answered with what happened. Shipments are made by the store
//! (one per order, from `OrderPlaced`), never by a command here.

pub mod handle;

use super::kernel::{
    Aggregate, AggregateError, AggregateId, Command as KernelCommand, CommandResult, Handled,
    LoadError, Refusal, WriteError, Writer, read_state, unread,
};
use crate::domain::shipment::{CancelDecision, Dispatch, ShipDecision, ShipmentChange};
use crate::domain::{Shipment, ShipmentId, Timestamp};
use crate::store::{self, Store};
use crate::telemetry::names;
use ractor::RpcReplyPort;

impl AggregateId for ShipmentId {
    fn from_sequence(value: u64) -> Self {
        Self(value)
    }
}

#[derive(Debug)]
pub struct ShipmentServices {
    pub store: Store,
    pub writer: Writer,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShipmentError {
    #[error("no such shipment")]
    NotFound,
    #[error("the shipment was cancelled")]
    Cancelled,
    #[error("the shipment was changed concurrently")]
    Conflict,
}

impl From<ShipmentError> for AggregateError<ShipmentError> {
    fn from(e: ShipmentError) -> Self {
        Self::Domain(e)
    }
}

pub type ShipmentResult<T> = CommandResult<ShipmentAggregate, T>;
type Reply<T> = RpcReplyPort<ShipmentResult<T>>;

/// What the saga's cancel found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled now, or before.
    Cancelled,
    /// The seller shipped it first.
    Shipped,
}

pub enum ShipmentCommand {
    /// The seller ships it (again: answered as it is).
    Ship(Dispatch, Reply<Shipment>),
    /// The saga cancels it, unless it shipped.
    Cancel(Reply<CancelOutcome>),
}

impl KernelCommand for ShipmentCommand {
    fn caller_gone(&self) -> bool {
        match self {
            Self::Ship(_, r) => r.is_closed(),
            Self::Cancel(r) => r.is_closed(),
        }
    }

    fn refuse(self, refusal: Refusal) {
        let refused = AggregateError::Refused(refusal);
        match self {
            Self::Ship(_, r) => {
                let _ = r.send(Err(refused));
            }
            Self::Cancel(r) => {
                let _ = r.send(Err(refused));
            }
        }
    }
}

pub struct ShipmentAggregate {
    id: ShipmentId,
    current: Option<Shipment>,
    unsure: bool,
}

impl Aggregate for ShipmentAggregate {
    const KIND: &'static str = "shipment";
    type Id = ShipmentId;
    type Command = ShipmentCommand;
    type Error = ShipmentError;
    type Services = ShipmentServices;

    fn fresh(id: ShipmentId) -> Self {
        Self {
            id,
            current: None,
            unsure: false,
        }
    }

    async fn load(id: ShipmentId, services: &ShipmentServices) -> Result<Self, LoadError> {
        let current = read_state(services.store.shipment(id)).await?;
        Ok(Self {
            id,
            current,
            unsure: false,
        })
    }

    async fn handle(&mut self, command: ShipmentCommand, svc: &ShipmentServices) -> Handled {
        self.unsure = false;
        match command {
            ShipmentCommand::Ship(dispatch, reply) => {
                let shipped = crate::retry_conflicts!(
                    Self::KIND,
                    AggregateError::Domain(ShipmentError::Conflict),
                    self.reread(svc).await,
                    self.ship(dispatch.clone(), svc).await
                );
                let _ = reply.send(shipped);
            }
            ShipmentCommand::Cancel(reply) => {
                let cancelled = crate::retry_conflicts!(
                    Self::KIND,
                    AggregateError::Domain(ShipmentError::Conflict),
                    self.reread(svc).await,
                    self.cancel(svc).await
                );
                let _ = reply.send(cancelled);
            }
        }
        Handled::unless_unsure(self.unsure)
    }

    fn is_empty(&self) -> bool {
        self.current.is_none()
    }
}

impl ShipmentAggregate {
    /// Reads the state again (another replica wrote it first).
    async fn reread(&mut self, svc: &ShipmentServices) -> Result<(), Refusal> {
        self.current = read_state(svc.store.shipment(self.id))
            .await
            .map_err(unread)?;
        Ok(())
    }

    fn current(&self) -> ShipmentResult<Shipment> {
        self.current
            .clone()
            .ok_or_else(|| ShipmentError::NotFound.into())
    }

    async fn ship(
        &mut self,
        dispatch: Dispatch,
        svc: &ShipmentServices,
    ) -> ShipmentResult<Shipment> {
        let current = self.current()?;
        match current.ship(dispatch, Timestamp::now()) {
            ShipDecision::AlreadyShipped => Ok(current),
            ShipDecision::Cancelled => Err(ShipmentError::Cancelled.into()),
            ShipDecision::Ship(next) => {
                self.save(&current, (*next).clone(), ShipmentChange::Shipped, svc)
                    .await?;
                count("shipped");
                Ok(*next)
            }
        }
    }

    async fn cancel(&mut self, svc: &ShipmentServices) -> ShipmentResult<CancelOutcome> {
        let current = self.current()?;
        match current.cancel(Timestamp::now()) {
            CancelDecision::AlreadyCancelled => Ok(CancelOutcome::Cancelled),
            CancelDecision::Shipped => Ok(CancelOutcome::Shipped),
            CancelDecision::Cancel(next) => {
                self.save(&current, *next, ShipmentChange::Cancelled, svc)
                    .await?;
                count("cancelled");
                Ok(CancelOutcome::Cancelled)
            }
        }
    }

    async fn save(
        &mut self,
        current: &Shipment,
        next: Shipment,
        change: ShipmentChange,
        svc: &ShipmentServices,
    ) -> ShipmentResult<()> {
        let save = store::SaveShipment {
            shipment: next.clone(),
            expected_version: current.version,
            change,
        };
        match svc.writer.write(save).await {
            Ok(_) => {
                self.current = Some(next);
                Ok(())
            }
            Err(WriteError::Rejected(_)) => {
                self.unsure = true;
                Err(ShipmentError::Conflict.into())
            }
            Err(e) => {
                self.unsure |= e.leaves_unsure();
                tracing::warn!(id = %self.id, error = %e, "a shipment's change was not stored");
                Err(e.refusal().into())
            }
        }
    }
}

/// Counts a shipment by what happened to it.
pub(crate) fn count(status: &'static str) {
    metrics::counter!(names::SHIPMENTS, "status" => status).increment(1);
}
