//! The circuit breaker: failsafe's state machine decides when to open (five consecutive
//! failures, or a failure rate over a window), and this wrapper adds what failsafe lacks — the
//! open period on tokio time (so tests can pause it), at most N half-open probes released on
//! drop, a timeout inside the guarded future, a readable mirror of the state, and the end of
//! the open period on the wall clock, published so it can be kept across a restart.

use crate::telemetry::names;
use failsafe::failure_policy::{ConsecutiveFailures, OrElse, consecutive_failures};
use failsafe::futures::CircuitBreaker as _;
use failsafe::{FailurePolicy, Instrument, StateMachine};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::time::Instant;

/// Breaker settings; the defaults are the ones API.md promises.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub window: Duration,
    pub min_calls: u32,
    /// Share of failed calls in the window (at `min_calls` or more) that opens the breaker.
    pub failure_rate: f64,
    pub open_for: Duration,
    pub half_open_probes: u32,
    pub call_timeout: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            window: Duration::from_secs(10),
            min_calls: 10,
            failure_rate: 0.5,
            open_for: Duration::from_secs(5),
            half_open_probes: 3,
            call_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }

    fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

/// A view of the breaker for `/admin/breaker`.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// Seconds until an open breaker lets probes through (rounded up, at least 1), else 0.
    pub retry_after_seconds: u64,
    pub probes_in_flight: u32,
    /// Times it has opened since the process started: two looks that see it open with the
    /// same count saw one open period, so no call can have gone out in between.
    pub openings: u64,
    pub config: BreakerConfig,
}

/// Why a call was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub retry_after: Duration,
}

/// Why a guarded call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker did not let the call through.
    Rejected(Rejected),
    /// The call timed out (counted as a failure).
    Timeout,
    /// The call itself failed.
    Inner(E),
}

/// failsafe keeps its own open timer on the std clock; we keep ours on tokio time and tell
/// failsafe to reopen immediately, so the two never disagree about when probes may start.
#[derive(Debug, Clone)]
struct Immediately;

impl Iterator for Immediately {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

type Policy = OrElse<ConsecutiveFailures<Immediately>, FailureRateWindow>;

/// The breaker: cheap to clone, shared by every call.
#[derive(Clone)]
pub struct Breaker {
    machine: StateMachine<Policy, Mirror>,
    mirror: Mirror,
    config: BreakerConfig,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .finish()
    }
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        let mirror = Mirror(Arc::new(Mutex::new(MirrorState {
            state: BreakerState::Closed,
            open_until: None,
            probes: 0,
            open_for: config.open_for,
            openings: 0,
            opened: watch::channel(None).0,
        })));
        metrics::gauge!(names::BREAKER_STATE).set(BreakerState::Closed.gauge());
        let policy = consecutive_failures(config.consecutive_failures, Immediately)
            .or_else(FailureRateWindow::new(&config));
        let machine = failsafe::Config::new()
            .failure_policy(policy)
            .instrument(mirror.clone())
            .build();
        Self {
            machine,
            mirror,
            config,
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Tells, on the wall clock, until when the breaker was last opened: each opening sends
    /// the end of its open period.
    pub fn openings(&self) -> watch::Receiver<Option<SystemTime>> {
        self.mirror.0.lock().unwrap().opened.subscribe()
    }

    /// Opens the breaker for what is left of an open period that began before a restart:
    /// failsafe is given failures until it opens, then the period is cut to `remaining`.
    pub fn restore_open(&self, remaining: Duration) {
        for _ in 0..=self.config.consecutive_failures {
            if self.state() == BreakerState::Open {
                break;
            }
            self.machine.on_error();
        }
        let mut m = self.mirror.0.lock().unwrap();
        if m.state == BreakerState::Open {
            m.open_until = Some(Instant::now() + remaining);
        }
    }

    pub fn state(&self) -> BreakerState {
        self.mirror.0.lock().unwrap().state
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        let m = self.mirror.0.lock().unwrap();
        let retry_after_seconds = match (m.state, m.open_until) {
            (BreakerState::Open, Some(until)) => {
                ceil_secs(until.saturating_duration_since(Instant::now()))
            }
            _ => 0,
        };
        BreakerSnapshot {
            state: m.state,
            retry_after_seconds,
            probes_in_flight: m.probes,
            openings: m.openings,
            config: self.config.clone(),
        }
    }

    /// While open, the time left. It never changes the state (when the period is over,
    /// [`Self::try_acquire`] lets the probes through), so callers can turn work away before
    /// starting it.
    pub fn open_remaining(&self) -> Option<Duration> {
        let m = self.mirror.0.lock().unwrap();
        let until = m.open_until.filter(|_| m.state == BreakerState::Open)?;
        Some(until.checked_duration_since(Instant::now()))
            .flatten()
            .filter(|d| !d.is_zero())
    }

    /// Asks to make one call. Open: rejected with the remaining open time. Half-open: one of
    /// at most `half_open_probes` calls in flight. The permit must be given to [`Self::call`].
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let mut m = self.mirror.0.lock().unwrap();
        if m.state == BreakerState::Open {
            let now = Instant::now();
            match m.open_until {
                Some(until) if now < until => {
                    return Err(Rejected {
                        retry_after: until - now,
                    });
                }
                _ => m.enter(BreakerState::HalfOpen),
            }
        }
        if m.state == BreakerState::HalfOpen {
            if m.probes >= self.config.half_open_probes {
                return Err(Rejected {
                    retry_after: Duration::from_secs(1),
                });
            }
            m.probes += 1;
            return Ok(Permit {
                probe: Some(self.mirror.clone()),
            });
        }
        Ok(Permit { probe: None })
    }

    /// Runs `call` under the breaker with the call timeout inside the guarded future, so a
    /// timeout counts as a failure. `is_failure` tells which errors count; an `Ok` (for
    /// example a declined payment) is always a success.
    pub async fn call<T, E, F>(
        &self,
        permit: Permit,
        is_failure: fn(&E) -> bool,
        call: F,
    ) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        {
            // The breaker may have (re)opened since the permit was given, also under a probe:
            // failsafe must not see this call, or it would end the open period early.
            let m = self.mirror.0.lock().unwrap();
            if m.state == BreakerState::Open {
                let remaining = m
                    .open_until
                    .map(|u| u.saturating_duration_since(Instant::now()));
                return Err(CallError::Rejected(Rejected {
                    retry_after: remaining.unwrap_or_default(),
                }));
            }
        }
        let timeout = self.config.call_timeout;
        let guarded = async move {
            match tokio::time::timeout(timeout, call).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(CallError::Inner(e)),
                Err(_) => Err(CallError::Timeout),
            }
        };
        let predicate = move |e: &CallError<E>| match e {
            CallError::Inner(inner) => is_failure(inner),
            _ => true,
        };
        let result = self.machine.call_with(predicate, guarded).await;
        drop(permit);
        match result {
            Ok(v) => Ok(v),
            Err(failsafe::Error::Inner(e)) => Err(e),
            Err(failsafe::Error::Rejected) => Err(CallError::Rejected(Rejected {
                retry_after: Duration::from_secs(1),
            })),
        }
    }
}

/// Leave to make one call; a half-open probe slot is given back when this is dropped, also
/// when the call is abandoned halfway.
#[derive(Debug)]
pub struct Permit {
    probe: Option<Mirror>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(mirror) = self.probe.take() {
            let mut m = mirror.0.lock().unwrap();
            m.probes = m.probes.saturating_sub(1);
        }
    }
}

/// Retry-After: whole seconds rounded up, at least 1.
pub fn ceil_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

#[derive(Debug)]
struct MirrorState {
    state: BreakerState,
    open_until: Option<Instant>,
    /// Probe permits not yet given back, whichever half-open period gave them: one held
    /// across a reopening is let through in the next half-open period, so it keeps its
    /// place among that period's `half_open_probes`.
    probes: u32,
    open_for: Duration,
    /// Times the breaker has opened since the process started.
    openings: u64,
    /// The end of the current open period on the wall clock, for keeping across restarts.
    opened: watch::Sender<Option<SystemTime>>,
}

impl MirrorState {
    fn enter(&mut self, state: BreakerState) {
        if self.state == state {
            return;
        }
        self.state = state;
        match state {
            BreakerState::Open => {
                // `probes` is not reset: permits taken before it reopened are still held,
                // and are let through in the next half-open period (see `MirrorState`).
                self.open_until = Some(Instant::now() + self.open_for);
                self.openings += 1;
                self.opened
                    .send_replace(Some(SystemTime::now() + self.open_for));
            }
            BreakerState::Closed => self.open_until = None,
            BreakerState::HalfOpen => {}
        }
        metrics::gauge!(names::BREAKER_STATE).set(state.gauge());
        metrics::counter!(names::BREAKER_TRANSITIONS, "to" => state.as_str()).increment(1);
        tracing::warn!(state = state.as_str(), "circuit breaker changed state");
    }
}

/// failsafe's instrument: it mirrors every transition into our state.
#[derive(Debug, Clone)]
struct Mirror(Arc<Mutex<MirrorState>>);

impl Instrument for Mirror {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        self.0.lock().unwrap().enter(BreakerState::Open);
    }
    fn on_half_open(&self) {
        let mut m = self.0.lock().unwrap();
        // failsafe reopens at once (see `Immediately`); the open period is ours to end.
        if m.open_until.is_none_or(|until| Instant::now() >= until) {
            m.enter(BreakerState::HalfOpen);
        }
    }
    fn on_closed(&self) {
        self.0.lock().unwrap().enter(BreakerState::Closed);
    }
}

mod window;
use window::FailureRateWindow;

#[cfg(test)]
mod tests;
