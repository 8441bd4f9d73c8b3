//! The handle's side of payment methods: commands (registration under an `Idempotency-Key`,
//! change, removal) sent to the aggregates through their router, reads from the store, and
//! an operator's release of a quarantined aggregate.

use super::{PaymethodCommand, PaymethodError, PaymethodResult};
use crate::actors::command::{ChangeRequest, CommandError, Done, Registration, RemoveRequest};
use crate::actors::{Actors, Answer, payment};
use crate::domain::idempotency::IdempotentOutcome;
use crate::domain::{CustomerId, IdempotencyKey, PaymentMethod, PaymethodId, Position};
use crate::store::Page;
use ractor::RpcReplyPort;

impl Actors {
    /// Registers, honouring an `Idempotency-Key` (see `Actors::idempotent`): the final
    /// outcome (201 or 402) is kept with the key.
    pub async fn register(
        &self,
        mut registration: Registration,
        key: Option<IdempotencyKey>,
    ) -> Answer<Done> {
        let customer = registration.customer_id.clone();
        let fingerprint = self.fingerprinter.of_registration(
            &customer,
            &registration.number,
            registration.request_id,
        );
        self.idempotent(&customer, key, fingerprint, replay, |claim| async move {
            registration.idempotency = claim;
            self.register_once(registration).await
        })
        .await
    }

    async fn register_once(&self, registration: Registration) -> Result<Done, CommandError> {
        // Every registration needs a payment call: while the breaker is open, answer at once
        // rather than start an aggregate only to be refused by the payment actor.
        if let Some(retry_after) = self.breaker.open_remaining() {
            payment::record(payment::CallKind::Verification, "rejected", None);
            return Err(PaymethodError::PaymentUnavailable { retry_after }.into());
        }
        let registration = Box::new(registration);
        self.command(None, |r| PaymethodCommand::Register(registration, r))
            .await
    }

    pub async fn change(
        &self,
        id: PaymethodId,
        change: ChangeRequest,
    ) -> Result<Done, CommandError> {
        self.command(Some(id), |r| PaymethodCommand::Change(change, r))
            .await
    }

    pub async fn remove(
        &self,
        id: PaymethodId,
        remove: RemoveRequest,
    ) -> Result<Position, CommandError> {
        self.command(Some(id), |r| PaymethodCommand::Remove(remove, r))
            .await
    }

    async fn command<T: Send + 'static>(
        &self,
        id: Option<PaymethodId>,
        build: impl FnOnce(RpcReplyPort<PaymethodResult<T>>) -> PaymethodCommand,
    ) -> Result<T, CommandError> {
        Ok(self.paymethods.command(id, build).await?)
    }

    pub async fn paymethod(&self, id: PaymethodId) -> Result<PaymentMethod, CommandError> {
        let stored = self.query(self.store.paymethod(id)).await?;
        stored.map(|s| s.method).ok_or(CommandError::NotFound)
    }

    pub async fn paymethods_of(
        &self,
        customer: CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<PaymentMethod>, CommandError> {
        let page = self.query(self.store.paymethods_of(&customer, after, limit));
        Ok(page.await?.map(|s| s.method))
    }

    /// Lets a quarantined aggregate try again; false if it was not quarantined.
    pub async fn release(&self, id: PaymethodId) -> Result<bool, CommandError> {
        Ok(self.paymethods.release(id).await?)
    }
}

async fn replay(outcome: IdempotentOutcome) -> Result<Done, CommandError> {
    match outcome {
        IdempotentOutcome::Registered { method, position } => Ok(Done { position, method }),
        IdempotentOutcome::Declined { payment_id } => Err(PaymethodError::Declined {
            payment_id,
            code: None,
        }
        .into()),
        // The key was used for an order (whose fingerprint a registration never matches).
        IdempotentOutcome::OrderPlaced { .. } => Err(CommandError::IdempotencyMismatch),
    }
}
