//! Limits on callers, with `governor`'s token buckets: failed authentications per client
//! address (the per-key buckets live with each key in `Keys`).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// A caller past its limit, and when it may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Whole seconds, at least 1.
    pub retry_after: u64,
}

/// The refusal for a bucket that is empty until `not_until`.
pub(super) fn refusal(not_until: NotUntil<<DefaultClock as Clock>::Instant>) -> RateLimited {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    RateLimited {
        retry_after: crate::actors::breaker::ceil_secs(wait).max(1),
    }
}

/// Failed authentications per client address; cheap to clone.
#[derive(Clone)]
pub struct Limits {
    failures: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl Limits {
    /// At most `per_minute` failed authentications a minute from one address (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        let failures = NonZeroU32::new(per_minute)
            .map(|n| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))));
        Self { failures }
    }

    /// Counts a failed authentication from `address`; past the limit, the refusal.
    pub fn failed_authentication(&self, address: IpAddr) -> Result<(), RateLimited> {
        match &self.failures {
            Some(limiter) => limiter.check_key(&address).map_err(refusal),
            None => Ok(()),
        }
    }

    /// Every minute while the limits live, forgets addresses whose buckets are full again,
    /// so the map does not grow without end.
    pub fn keep_forgetting(&self) {
        let Some(limiter) = &self.failures else {
            return;
        };
        let weak = Arc::downgrade(limiter);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                let Some(limiter) = weak.upgrade() else {
                    return;
                };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_failures_a_minute_then_refused_with_a_retry_time() {
        let limits = Limits::new(20);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..20 {
            assert_eq!(limits.failed_authentication(a), Ok(()));
        }
        let refused = limits.failed_authentication(a).unwrap_err();
        assert!((1..=3).contains(&refused.retry_after), "{refused:?}");
        assert_eq!(limits.failed_authentication(b), Ok(()), "per address");
        let off = Limits::new(0);
        for _ in 0..100 {
            assert_eq!(off.failed_authentication(a), Ok(()));
        }
    }
}
