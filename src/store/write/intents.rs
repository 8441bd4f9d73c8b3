//! The intent, refund and pruning side of a write transaction. An intent's record exists
//! only while it is open: closing or giving it up deletes it, so the next attempt under its
//! base draws a new nonce (a new reference at the payment system).

use super::{StoreError, Tables};
use crate::domain::intent::{Intent, IntentRef, RefundOwed, Verdict};
use crate::domain::{Payment, Timestamp};
use crate::store::codec::{decode, encode};
use crate::store::command::{OpenIntent, Outcome, Rejected};
use crate::store::tables::index_ms;
use redb::ReadableTable;

impl Tables<'_> {
    fn intent(&self, base: &str) -> Result<Option<Intent>, StoreError> {
        match self.intents.get(base)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    /// Stores `intent` as open, indexed by when it was opened.
    fn put_intent(&mut self, intent: &Intent) -> Result<(), StoreError> {
        self.intents
            .insert(intent.base.as_str(), encode(intent)?.as_slice())?;
        self.intents_open
            .insert((index_ms(intent.opened_at), intent.base.as_str()), ())?;
        Ok(())
    }

    /// Deletes an intent and its index entry.
    fn drop_intent(&mut self, intent: &Intent) -> Result<(), StoreError> {
        self.intents.remove(intent.base.as_str())?;
        self.intents_open
            .remove((index_ms(intent.opened_at), intent.base.as_str()))?;
        Ok(())
    }

    /// Opens the intent `base`: an open one (a retry of the same request) is re-opened with
    /// its nonce, keeping its reference; otherwise it opens with `nonce`.
    pub(super) fn open_intent(&mut self, open: &OpenIntent) -> Result<Outcome, StoreError> {
        let OpenIntent {
            base,
            nonce,
            customer_id,
            paymethod_id,
            amount,
            order_id,
        } = open;
        let nonce = match self.intent(base)? {
            Some(open) => {
                self.drop_intent(&open)?;
                open.nonce
            }
            None => nonce.to_owned(),
        };
        let intent = Intent {
            base: base.to_owned(),
            nonce: nonce.clone(),
            customer_id: customer_id.clone(),
            paymethod_id: *paymethod_id,
            amount: *amount,
            order_id: *order_id,
            opened_at: Timestamp::now(),
            checks: 0,
        };
        self.put_intent(&intent)?;
        Ok(Outcome {
            nonce: Some(nonce),
            ..Outcome::default()
        })
    }

    /// Closes `intent` (checked open with [`Self::intent_is_open`] before anything was
    /// written): its command's outcome is stored in this transaction.
    pub(super) fn close_intent(&mut self, intent: &IntentRef) -> Result<(), StoreError> {
        if let Some(open) = self.intent(&intent.base)?
            && open.nonce == intent.nonce
        {
            self.drop_intent(&open)?;
        }
        Ok(())
    }

    /// Whether `intent` is the open one (checked before a command writes anything).
    pub(super) fn intent_is_open(&self, intent: &IntentRef) -> Result<bool, StoreError> {
        Ok(self
            .intent(&intent.base)?
            .is_some_and(|open| open.nonce == intent.nonce))
    }

    /// Applies the reconciler's verdict, if the intent is still the one it looked at (same
    /// nonce, not re-opened since `opened_at`).
    pub(super) fn resolve_intent(
        &mut self,
        intent: &IntentRef,
        opened_at: Timestamp,
        verdict: &Verdict,
    ) -> Result<Result<Outcome, Rejected>, StoreError> {
        let Some(open) = self.intent(&intent.base)? else {
            return Ok(Err(Rejected::IntentClosed));
        };
        if open.nonce != intent.nonce || open.opened_at != opened_at {
            return Ok(Err(Rejected::IntentClosed));
        }
        self.drop_intent(&open)?;
        match verdict {
            Verdict::Close => {}
            Verdict::Recheck => {
                let again = Intent {
                    opened_at: Timestamp::now(),
                    checks: open.checks.saturating_add(1),
                    ..open
                };
                self.put_intent(&again)?;
            }
            Verdict::Abandon(refund) => self.owe_refund(refund)?,
        }
        Ok(Ok(Outcome::default()))
    }

    /// Records a refund to make (once per authorization).
    pub(super) fn owe_refund(&mut self, refund: &RefundOwed) -> Result<(), StoreError> {
        let key = refund.authorization.as_str();
        if self.refunds_owed.get(key)?.is_none() {
            self.refunds_owed.insert(key, encode(refund)?.as_slice())?;
        }
        Ok(())
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

    /// Deletes up to `limit` idempotency records created before `before`.
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
        Ok(Outcome {
            pruned: keys.len(),
            ..Outcome::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::intent::{IntentRef, RefundOwed, Verdict};
    use crate::domain::{CustomerId, Timestamp};
    use crate::store::{Command, OpenIntent, Outcome, Redb, Rejected, ResolveIntent};

    fn store() -> (tempfile::TempDir, Redb) {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Redb::open(&dir.path().join("t.redb")).unwrap();
        (dir, store)
    }

    fn one(store: &Redb, command: impl Into<Command>) -> Result<Outcome, Rejected> {
        store.commit(&[command.into()]).unwrap().remove(0)
    }

    fn open(store: &Redb, nonce: &str) -> IntentRef {
        let outcome = one(
            store,
            OpenIntent {
                base: "reg_b".into(),
                nonce: nonce.into(),
                customer_id: CustomerId::parse("c").unwrap(),
                paymethod_id: None,
                amount: 0,
                order_id: None,
            },
        )
        .unwrap();
        IntentRef {
            base: "reg_b".into(),
            nonce: outcome.nonce.unwrap(),
        }
    }

    fn resolve(store: &Redb, verdict: Verdict) -> Result<Outcome, Rejected> {
        let intent = store
            .open_intents_before(Timestamp(i64::MAX), None, 10)
            .unwrap()
            .remove(0);
        let command = ResolveIntent {
            intent: intent.handle(),
            opened_at: intent.opened_at,
            verdict,
        };
        one(store, command)
    }

    #[test]
    fn a_retry_reuses_an_open_intent_but_never_one_that_was_closed_or_given_up() {
        let (_dir, store) = store();
        let first = open(&store, "n1");
        assert_eq!(
            open(&store, "n2"),
            first,
            "an open intent keeps its reference"
        );
        assert_eq!(store.open_intents().unwrap(), 1);

        // Not found yet: it stays open, for a later look.
        resolve(&store, Verdict::Recheck).unwrap();
        assert_eq!(store.open_intents().unwrap(), 1);

        let refund = RefundOwed {
            authorization: "auth_1".into(),
            reference: first.reference(),
            customer_id: CustomerId::parse("c").unwrap(),
            paymethod_id: None,
            amount: 0,
        };
        resolve(&store, Verdict::Abandon(refund)).unwrap();
        assert_eq!(store.open_intents().unwrap(), 0);
        assert_eq!(store.refunds_owed(None, 10).unwrap().len(), 1);

        let second = open(&store, "n3");
        assert_ne!(
            second, first,
            "after a refund, a retry calls with a new reference"
        );
        resolve(&store, Verdict::Close).unwrap();
        let third = open(&store, "n4");
        assert_ne!(third, second, "after a close, too");
    }

    #[test]
    fn a_verdict_on_an_intent_that_was_reopened_meanwhile_is_refused() {
        let (_dir, store) = store();
        open(&store, "n1");
        let seen = store
            .open_intents_before(Timestamp(i64::MAX), None, 10)
            .unwrap()
            .remove(0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        open(&store, "n2"); // a retry re-opens it
        let late = ResolveIntent {
            intent: seen.handle(),
            opened_at: seen.opened_at,
            verdict: Verdict::Close,
        };
        assert_eq!(one(&store, late), Err(Rejected::IntentClosed));
        assert_eq!(store.open_intents().unwrap(), 1);
    }
}
