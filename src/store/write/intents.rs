//! The intent, refund and pruning side of a write transaction.

use super::{StoreError, Tables};
use crate::domain::intent::{Intent, IntentRef, IntentState, RefundOwed};
use crate::domain::{CustomerId, Payment, PaymethodId, Timestamp};
use crate::store::codec::{decode, encode};
use crate::store::command::{Outcome, Rejected};
use redb::ReadableTable;

/// Milliseconds since the epoch as an index key (times before 1970 sort first).
pub(super) fn index_ms(t: Timestamp) -> u64 {
    t.0.max(0) as u64
}

impl Tables<'_> {
    pub(super) fn intent(&self, base: &str) -> Result<Option<Intent>, StoreError> {
        match self.intents.get(base)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn put_intent(&mut self, intent: &Intent) -> Result<(), StoreError> {
        self.intents
            .insert(intent.base.as_str(), encode(intent)?.as_slice())?;
        Ok(())
    }

    /// Opens the intent `base`: a new one at generation 0; an open one (a retry of the same
    /// request) is re-opened as it is, keeping its reference; an abandoned one moves on to
    /// the next generation.
    pub(super) fn open_intent(
        &mut self,
        base: &str,
        customer_id: &CustomerId,
        paymethod_id: Option<PaymethodId>,
    ) -> Result<Outcome, StoreError> {
        let now = Timestamp::now();
        let generation = match self.intent(base)? {
            None => 0,
            Some(old) => {
                match old.state {
                    IntentState::Open => {
                        self.intents_open.remove((index_ms(old.opened_at), base))?;
                    }
                    IntentState::Abandoned => {
                        self.intents_abandoned
                            .remove((index_ms(old.opened_at), base))?;
                    }
                }
                match old.state {
                    IntentState::Open => old.generation,
                    IntentState::Abandoned => old.generation + 1,
                }
            }
        };
        let intent = Intent {
            base: base.to_owned(),
            generation,
            customer_id: customer_id.clone(),
            paymethod_id,
            state: IntentState::Open,
            opened_at: now,
        };
        self.put_intent(&intent)?;
        self.intents_open.insert((index_ms(now), base), ())?;
        Ok(Outcome {
            generation: Some(generation),
            ..Outcome::default()
        })
    }

    /// Whether `intent` is open at that generation: only then may a command close it.
    pub(super) fn intent_is_open(&self, intent: &IntentRef) -> Result<bool, StoreError> {
        Ok(self
            .intent(&intent.base)?
            .is_some_and(|i| i.state == IntentState::Open && i.generation == intent.generation))
    }

    /// Closes an open intent: its command's outcome is stored in this transaction.
    pub(super) fn close_intent(&mut self, intent: &IntentRef) -> Result<(), StoreError> {
        if let Some(stored) = self.intent(&intent.base)? {
            self.intents.remove(intent.base.as_str())?;
            if stored.state == IntentState::Open {
                self.intents_open
                    .remove((index_ms(stored.opened_at), intent.base.as_str()))?;
            }
        }
        Ok(())
    }

    pub(super) fn resolve_intent(
        &mut self,
        intent: &IntentRef,
        opened_at: Timestamp,
        refund: Option<&RefundOwed>,
    ) -> Result<Result<Outcome, Rejected>, StoreError> {
        let Some(mut stored) = self.intent(&intent.base)? else {
            return Ok(Err(Rejected::IntentClosed));
        };
        if stored.state != IntentState::Open
            || stored.generation != intent.generation
            || stored.opened_at != opened_at
        {
            return Ok(Err(Rejected::IntentClosed));
        }
        let Some(refund) = refund else {
            self.close_intent(intent)?;
            return Ok(Ok(Outcome::default()));
        };
        let base = intent.base.as_str();
        self.intents_open.remove((index_ms(opened_at), base))?;
        stored.state = IntentState::Abandoned;
        self.put_intent(&stored)?;
        self.intents_abandoned
            .insert((index_ms(opened_at), base), ())?;
        self.refunds_owed
            .insert(refund.authorization.as_str(), encode(refund)?.as_slice())?;
        Ok(Ok(Outcome::default()))
    }

    pub(super) fn record_refund(
        &mut self,
        authorization: &str,
        payment: &Payment,
    ) -> Result<Outcome, StoreError> {
        let payment_id = self.insert_payment(payment.clone())?;
        self.refunds_owed.remove(authorization)?;
        Ok(Outcome {
            payment_id: Some(payment_id),
            ..Outcome::default()
        })
    }

    /// Deletes idempotency records and abandoned intents older than `before`.
    pub(super) fn prune(&mut self, before: Timestamp, limit: usize) -> Result<Outcome, StoreError> {
        let cutoff = index_ms(before);
        let keys: Vec<(u64, String, String)> = self
            .idempotency_by_time
            .range(..(cutoff, "", ""))?
            .take(limit)
            .map(|row| {
                row.map(|(k, _)| {
                    let (at, customer, key) = k.value();
                    (at, customer.to_owned(), key.to_owned())
                })
            })
            .collect::<Result<_, _>>()?;
        for (at, customer, key) in &keys {
            self.idempotency.remove((customer.as_str(), key.as_str()))?;
            self.idempotency_by_time
                .remove((*at, customer.as_str(), key.as_str()))?;
        }
        let intents: Vec<(u64, String)> = self
            .intents_abandoned
            .range(..(cutoff, ""))?
            .take(limit)
            .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
            .collect::<Result<_, _>>()?;
        for (at, base) in &intents {
            self.intents.remove(base.as_str())?;
            self.intents_abandoned.remove((*at, base.as_str()))?;
        }
        Ok(Outcome {
            pruned: keys.len() + intents.len(),
            ..Outcome::default()
        })
    }
}
