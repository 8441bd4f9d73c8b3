//! The failure-rate half of the breaker's policy.

use super::BreakerConfig;
use failsafe::FailurePolicy;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Opens when at least `failure_rate` of at least `min_calls` calls in the last `window`
/// failed, counted in ten buckets on tokio time (failsafe's own rate policy is a moving
/// average on the std clock that cannot trip during its first window).
#[derive(Debug)]
pub(super) struct FailureRateWindow {
    buckets: VecDeque<(Instant, u32, u32)>,
    bucket: Duration,
    window: Duration,
    min_calls: u32,
    failure_rate: f64,
}

impl FailureRateWindow {
    pub(super) fn new(config: &BreakerConfig) -> Self {
        Self {
            buckets: VecDeque::new(),
            bucket: (config.window / 10).max(Duration::from_millis(1)),
            window: config.window,
            min_calls: config.min_calls,
            failure_rate: config.failure_rate,
        }
    }

    fn record(&mut self, failed: bool) -> (u32, u32) {
        let now = Instant::now();
        while self
            .buckets
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) >= self.window)
        {
            self.buckets.pop_front();
        }
        match self.buckets.back_mut() {
            Some((start, calls, failures)) if now.duration_since(*start) < self.bucket => {
                *calls += 1;
                *failures += u32::from(failed);
            }
            _ => self.buckets.push_back((now, 1, u32::from(failed))),
        }
        self.buckets
            .iter()
            .fold((0, 0), |(c, f), (_, bc, bf)| (c + bc, f + bf))
    }
}

impl FailurePolicy for FailureRateWindow {
    fn record_success(&mut self) {
        self.record(false);
    }

    fn mark_dead_on_failure(&mut self) -> Option<Duration> {
        let (calls, failures) = self.record(true);
        let tripped =
            calls >= self.min_calls && f64::from(failures) >= self.failure_rate * f64::from(calls);
        tripped.then_some(Duration::ZERO)
    }

    fn revived(&mut self) {
        self.buckets.clear();
    }
}
