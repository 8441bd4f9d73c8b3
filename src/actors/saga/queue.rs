//! The saga's steps waiting to be carried out, in the order they became due: at most one
//! running per order, a failed one waiting out its backoff. Every operation costs O(log n)
//! (not a pass over every pending step), so a backlog of tens of thousands of steps drains as
//! fast as the steps themselves go.

use crate::domain::OrderId;
use crate::domain::order::SagaStep;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

type Key = (OrderId, SagaStep);

/// The first wait before a failed step runs again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(super) struct StepQueue {
    /// Every step not yet carried out, with its failures so far.
    pending: HashMap<Key, u32>,
    /// Due steps, first come first.
    ready: VecDeque<Key>,
    /// Failed steps waiting out their backoff, by when they are due.
    delayed: BTreeSet<(Instant, Key)>,
    /// Orders with a step running.
    running: HashSet<OrderId>,
    /// Due steps of orders that have one running, in order.
    blocked: HashMap<OrderId, VecDeque<Key>>,
    /// Pending steps by step (indexed by [`SagaStep::code`]).
    counts: [usize; 3],
}

impl StepQueue {
    /// Adds a step to carry out now, unless it is pending already.
    pub fn add(&mut self, key: Key) {
        if self.pending.contains_key(&key) {
            return;
        }
        self.pending.insert(key, 0);
        self.counts[key.1.code() as usize] += 1;
        self.ready.push_back(key);
    }

    /// The next step to start (its order is then running), if one is due.
    pub fn start_next(&mut self, now: Instant) -> Option<Key> {
        while let Some(&(due, key)) = self.delayed.first() {
            if due > now {
                break;
            }
            self.delayed.pop_first();
            self.ready.push_back(key);
        }
        while let Some(key) = self.ready.pop_front() {
            if self.running.insert(key.0) {
                return Some(key);
            }
            self.blocked.entry(key.0).or_default().push_back(key);
        }
        None
    }

    /// A started step ended: done (it leaves), or failed (it waits out its backoff, which is
    /// returned). The order's other due steps go next.
    pub fn ended(&mut self, key: Key, ok: bool, now: Instant) -> Option<(u32, Duration)> {
        self.running.remove(&key.0);
        if let Some(blocked) = self.blocked.remove(&key.0) {
            for waiting in blocked.into_iter().rev() {
                self.ready.push_front(waiting);
            }
        }
        if ok {
            if self.pending.remove(&key).is_some() {
                self.counts[key.1.code() as usize] -= 1;
            }
            return None;
        }
        let failures = self.pending.get_mut(&key)?;
        *failures = failures.saturating_add(1);
        let wait = backoff(*failures);
        self.delayed.insert((now + wait, key));
        Some((*failures, wait))
    }

    /// When the next failed step is due again.
    pub fn next_due(&self) -> Option<Instant> {
        self.delayed.first().map(|(due, _)| *due)
    }

    /// Steps running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Pending steps of `step`.
    pub fn count(&self, step: SagaStep) -> usize {
        self.counts[step.code() as usize]
    }
}

/// The wait after `failures` failures in a row: doubling from [`FIRST_BACKOFF`], at most
/// [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANCEL: SagaStep = SagaStep::CancelShipment;
    const REFUND: SagaStep = SagaStep::Refund;

    #[test]
    fn failed_steps_wait_longer_each_time_up_to_half_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(7), Duration::from_secs(30));
        assert_eq!(backoff(1_000), Duration::from_secs(30));
    }

    #[test]
    fn steps_start_in_order_one_per_order_and_an_orders_next_step_goes_next() {
        let now = Instant::now();
        let mut q = StepQueue::default();
        q.add((OrderId(1), CANCEL));
        q.add((OrderId(1), REFUND));
        q.add((OrderId(2), CANCEL));
        q.add((OrderId(1), CANCEL)); // pending already
        assert_eq!((q.count(CANCEL), q.count(REFUND)), (2, 1));
        assert_eq!(q.start_next(now), Some((OrderId(1), CANCEL)));
        assert_eq!(
            q.start_next(now),
            Some((OrderId(2), CANCEL)),
            "order 1 is busy"
        );
        assert_eq!(q.start_next(now), None);
        assert_eq!(q.running(), 2);
        assert_eq!(q.ended((OrderId(1), CANCEL), true, now), None);
        assert_eq!(q.start_next(now), Some((OrderId(1), REFUND)));
        assert_eq!((q.count(CANCEL), q.count(REFUND)), (1, 1));
    }

    #[test]
    fn a_failed_step_waits_out_its_backoff_while_the_others_go_on() {
        let now = Instant::now();
        let mut q = StepQueue::default();
        q.add((OrderId(1), REFUND));
        q.add((OrderId(2), REFUND));
        let first = q.start_next(now).unwrap();
        assert_eq!(
            q.ended(first, false, now),
            Some((1, Duration::from_millis(500)))
        );
        assert_eq!(q.start_next(now), Some((OrderId(2), REFUND)));
        assert_eq!(q.start_next(now), None, "the failed one is not due yet");
        assert_eq!(q.next_due(), Some(now + Duration::from_millis(500)));
        let later = now + Duration::from_millis(500);
        assert_eq!(q.start_next(later), Some((OrderId(1), REFUND)));
        assert_eq!(
            q.ended((OrderId(1), REFUND), false, later),
            Some((2, Duration::from_secs(1)))
        );
        assert_eq!(q.count(REFUND), 2, "still pending");
        q.ended((OrderId(2), REFUND), true, later);
        assert_eq!(q.count(REFUND), 1);
    }
}
