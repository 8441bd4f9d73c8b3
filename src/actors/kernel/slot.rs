//! A swappable reference to a supervised actor: the supervisor puts the new incarnation in
//! after a restart, and every holder sees it on its next call.

use super::Refusal;
use ractor::ActorRef;
use std::sync::{Arc, RwLock};

pub struct Slot<M>(Arc<RwLock<Option<ActorRef<M>>>>);

impl<M> Clone for Slot<M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<M> Default for Slot<M> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<M> Slot<M> {
    /// The current incarnation, or `Unavailable` while there is none (starting, restarting).
    pub fn get(&self) -> Result<ActorRef<M>, Refusal> {
        self.0.read().unwrap().clone().ok_or(Refusal::Unavailable)
    }

    pub fn set(&self, actor: Option<ActorRef<M>>) {
        *self.0.write().unwrap() = actor;
    }
}

impl<M> std::fmt::Debug for Slot<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}
