//! The handle's side of payments: the records kept by the payment side, and the circuit
//! breaker's state.

use super::PaymentMessage;
use super::breaker::BreakerSnapshot;
use crate::actors::{Actors, CommandError, ask};
use crate::domain::{CustomerId, Payment, PaymentId, PaymethodId};
use crate::store::Page;
use std::time::{Duration, SystemTime};

/// Which payments to list.
#[derive(Debug, Clone)]
pub enum PaymentFilter {
    Customer(CustomerId),
    /// One payment method's records; with a customer, only if the method is theirs.
    Paymethod(PaymethodId, Option<CustomerId>),
}

impl Actors {
    pub async fn payment(&self, id: PaymentId) -> Result<Payment, CommandError> {
        self.query(self.store.payment(id))
            .await?
            .ok_or(CommandError::NotFound)
    }

    pub async fn payments(
        &self,
        filter: PaymentFilter,
        after: u64,
        limit: usize,
    ) -> Result<Page<Payment>, CommandError> {
        self.query(async {
            match &filter {
                PaymentFilter::Customer(c) => {
                    self.store.payments_of_customer(c, after, limit).await
                }
                PaymentFilter::Paymethod(p, customer) => {
                    let mut page = self.store.payments_of_paymethod(*p, after, limit).await?;
                    if let Some(c) = customer {
                        // A method belongs to one customer: its records all match or none do.
                        page.items.retain(|payment| &payment.customer_id == c);
                        if page.items.is_empty() {
                            page.next_after = None;
                        }
                    }
                    Ok(page)
                }
            }
        })
        .await
    }

    /// The breaker's state, and the end of the open period recorded in the store (what a
    /// restart would restore; recorded shortly after each opening).
    /// With replicas, this replica's name (as it holds leases); `None` on one process.
    pub fn replica(&self) -> Option<&str> {
        self.store.bus_log().map(|log| log.holder.as_str())
    }

    pub async fn breaker(&self) -> Result<(BreakerSnapshot, Option<SystemTime>), CommandError> {
        let payment = self.payment.get()?;
        let snapshot = ask(&payment, PaymentMessage::GetBreaker, Duration::from_secs(2)).await?;
        let recorded = self
            .query(super::breaker_record::open_until(&self.store))
            .await?;
        Ok((snapshot, recorded))
    }
}
