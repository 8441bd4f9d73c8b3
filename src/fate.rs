//! A request's point of no return, shared by the server and the actor kernel. At its shutdown
//! deadline the server answers a request still in flight with 503 only if it can
//! [`Fate::abandon`] it; the kernel calls [`Fate::proceed`] before anything the request sets
//! off that could outlive it (a command starts, a write is queued, an actor is asked). One
//! compare-and-swap decides, so a client told 503 was never charged nor changed anything.
//!
//! The server puts each request's fate in a task-local ([`Fate::scope`]), so the handlers and
//! the [`crate::actors::Actors`] handle need no extra argument; tasks of their own (actors, the
//! saga) have none and always proceed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

const OPEN: u8 = 0;
const PROCEEDED: u8 = 1;
const ABANDONED: u8 = 2;

/// Whether a request went past its point of no return, was abandoned before it, or neither
/// yet. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Fate(Arc<AtomicU8>);

tokio::task_local! {
    static CURRENT: Fate;
}

impl Fate {
    /// Passes the point of no return: true unless the request was abandoned (then whatever
    /// was about to happen must not).
    pub fn proceed(&self) -> bool {
        self.settle(PROCEEDED)
    }

    /// Gives the request up: true if it never passed its point of no return and now never
    /// will; false if something it set off is under way and must be waited for.
    pub fn abandon(&self) -> bool {
        self.settle(ABANDONED)
    }

    fn settle(&self, to: u8) -> bool {
        match self
            .0
            .compare_exchange(OPEN, to, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(now) => now == to,
        }
    }

    /// Runs `work` with this fate as the current task's.
    pub async fn scope<T>(self, work: impl Future<Output = T>) -> T {
        CURRENT.scope(self, work).await
    }

    /// The fate of the request the current task serves, if it serves one.
    pub fn current() -> Option<Fate> {
        CURRENT.try_with(Fate::clone).ok()
    }

    /// [`Fate::proceed`] for the current task's request; true where there is none.
    pub fn proceed_current() -> bool {
        Self::current().is_none_or(|fate| fate.proceed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_proceed_and_abandon_wins_and_the_other_is_refused() {
        let fate = Fate::default();
        assert!(fate.proceed());
        assert!(fate.proceed(), "proceeding again is still proceeding");
        assert!(!fate.abandon());

        let fate = Fate::default();
        assert!(fate.clone().abandon());
        assert!(!fate.proceed());
    }

    #[tokio::test]
    async fn a_task_serving_no_request_always_proceeds() {
        assert!(Fate::current().is_none());
        assert!(Fate::proceed_current());
        let fate = Fate::default();
        fate.abandon();
        let inside = fate.scope(async { Fate::proceed_current() }).await;
        assert!(!inside);
    }
}
