//! Keys of registrations in flight. A key is claimed before its stored record is looked up
//! and released only after the command's outcome (and the record) are durable, so two
//! requests with one key never both run: the second sees the claim (409) or the record.

use crate::domain::{CustomerId, IdempotencyKey};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

type Key = (CustomerId, IdempotencyKey);

#[derive(Debug, Default, Clone)]
pub struct InFlight(Arc<Mutex<HashSet<Key>>>);

/// Held while a request with this key runs; dropping it releases the key.
#[derive(Debug)]
pub struct Claim {
    set: InFlight,
    key: Key,
}

impl InFlight {
    /// Claims the key, or `None` if a request with it is running.
    pub fn claim(&self, customer: &CustomerId, key: &IdempotencyKey) -> Option<Claim> {
        let key = (customer.clone(), key.clone());
        self.0.lock().unwrap().insert(key.clone()).then(|| Claim {
            set: self.clone(),
            key,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set.0.lock().unwrap().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_once_per_customer_until_released() {
        let set = InFlight::default();
        let alice = CustomerId::parse("alice").unwrap();
        let bob = CustomerId::parse("bob").unwrap();
        let key = IdempotencyKey::parse("k1").unwrap();
        let held = set.claim(&alice, &key).unwrap();
        assert!(set.claim(&alice, &key).is_none());
        assert!(
            set.claim(&bob, &key).is_some(),
            "keys are scoped per customer"
        );
        drop(held);
        assert!(set.claim(&alice, &key).is_some());
    }
}
