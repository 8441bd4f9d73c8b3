//! Keys of requests in flight. A key is claimed before its stored record is looked up and
//! released only after the command's outcome (and the record) are durable, so two requests
//! with one key never both run: the second sees the claim (409) or the record. With replicas
//! (PostgreSQL) a key is also claimed in the store, for the other replicas to see.

use crate::domain::{CustomerId, IdempotencyKey};
use crate::store::BusLog;
use crate::store::postgres::PgError;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Key = (CustomerId, IdempotencyKey);

/// How long a claim in the store lasts at most: past the longest a request may hold its key
/// (its command's bound and its last write's), so that a replica that dies holding a key
/// leaves it claimed this long at most.
const SHARED_CLAIM: Duration = Duration::from_secs(120);

#[derive(Debug, Default, Clone)]
pub struct InFlight {
    local: Arc<Mutex<HashSet<Key>>>,
    shared: Option<Arc<BusLog>>,
}

/// Held while a request with this key runs; dropping it releases the key.
#[derive(Debug)]
pub struct Claim {
    set: InFlight,
    key: Key,
}

impl InFlight {
    /// Keys claimed in this process, and in `shared`'s store too (with replicas).
    pub fn new(shared: Option<Arc<BusLog>>) -> Self {
        Self {
            local: Arc::default(),
            shared,
        }
    }

    /// Claims the key, or `None` if a request with it is running (here or, with replicas,
    /// on another replica).
    pub async fn claim(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<Claim>, PgError> {
        let pair = (customer.clone(), key.clone());
        if !self.local.lock().unwrap().insert(pair.clone()) {
            return Ok(None);
        }
        // From here on, dropping it releases the key.
        let claim = Claim {
            set: self.clone(),
            key: pair,
        };
        if let Some(log) = &self.shared {
            let (customer, key) = (customer.as_str(), key.as_str());
            let holder = log.holder.as_str();
            if !log
                .store
                .claim_key(customer, key, holder, SHARED_CLAIM)
                .await?
            {
                claim.key_only();
                return Ok(None);
            }
        }
        Ok(Some(claim))
    }
}

impl Claim {
    /// Releases the key in this process only (its claim in the store was not taken).
    fn key_only(mut self) {
        self.set.local.lock().unwrap().remove(&self.key);
        self.set.shared = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set.local.lock().unwrap().remove(&self.key);
        if let Some(log) = self.set.shared.clone() {
            let (customer, key) = self.key.clone();
            tokio::spawn(async move {
                let (customer, key) = (customer.as_str(), key.as_str());
                if let Err(e) = log.store.release_key(customer, key, &log.holder).await {
                    tracing::warn!(error = %e, "releasing an Idempotency-Key's claim failed; it lapses by itself");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[test]
    fn a_key_is_held_once_per_customer_until_released() {
        let set = InFlight::default();
        let alice = CustomerId::parse("alice").unwrap();
        let bob = CustomerId::parse("bob").unwrap();
        let key = IdempotencyKey::parse("k1").unwrap();
        let claim = |who| set.claim(who, &key).now_or_never().unwrap().unwrap();
        let held = claim(&alice).unwrap();
        assert!(claim(&alice).is_none());
        assert!(claim(&bob).is_some(), "keys are scoped per customer");
        drop(held);
        assert!(claim(&alice).is_some());
    }
}
