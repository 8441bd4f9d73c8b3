//! How many commands the router has sent to one host and the host has not yet taken from its
//! mailbox: the router counts up to its bound, the host counts down as it takes each one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[derive(Debug, Clone, Default)]
pub(super) struct Queued(Arc<AtomicUsize>);

impl Queued {
    /// Counts one more, unless `bound` are counted already (only the router adds, so the
    /// check and the add cannot race each other).
    pub fn add_below(&self, bound: usize) -> bool {
        if self.0.load(Relaxed) >= bound {
            return false;
        }
        self.0.fetch_add(1, Relaxed);
        true
    }

    /// One fewer: taken from the mailbox, or handed back by a mailbox that was closing.
    pub fn take(&self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
