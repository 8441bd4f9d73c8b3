//! The aggregate host: one actor per live aggregate of any kind, the only writer of that
//! aggregate. It loads the state on its first command (in its own task, never the router's),
//! runs one command at a time, and stops by draining (what is queued still runs) when idle,
//! when evicted, or when the aggregate holds nothing. It never runs a command whose caller has
//! gone or that waited past its start-by time, and never stops in the middle of a command.

use super::aggregate::{Aggregate, Command, Handled, LoadError, Refusal};
use super::mailbox::Queued;
use crate::fate::Fate;
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

pub struct AggregateHost<A>(PhantomData<fn() -> A>);

impl<A> Default for AggregateHost<A> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

pub struct HostArgs<A: Aggregate> {
    pub id: A::Id,
    /// True for a freshly allocated id: nothing to load.
    pub fresh: bool,
    pub services: Arc<A::Services>,
    /// Commands routed here and not yet taken from the mailbox; the router refuses more past
    /// its bound.
    pub(super) queued: Queued,
    /// Idle this long, the host passivates.
    pub idle_timeout: Duration,
    /// Read the state again before each command (other processes write the store too).
    pub reload_each_command: bool,
}

pub struct HostState<A: Aggregate> {
    id: A::Id,
    /// `None` until loaded, and again after a write whose fate is unknown.
    aggregate: Option<A>,
    services: Arc<A::Services>,
    queued: Queued,
    idle_timeout: Duration,
    reload_each_command: bool,
    last_active: Instant,
    idle_timer_armed: bool,
}

/// When a command may start: not after `by`, and not once the request that sent it (if a
/// request did) was abandoned at the server's shutdown deadline.
#[derive(Debug, Clone)]
pub struct Start {
    pub by: Instant,
    pub request: Option<Fate>,
    /// The span the command was sent from (an HTTP request's, with its id): the host runs
    /// it under that span, so the lines it writes carry the request's id. ractor boxes each
    /// message, so this costs the mailbox nothing while no command is in flight.
    pub span: tracing::Span,
}

impl Start {
    /// Start by `by`, for the request the current task serves (if any).
    pub fn by(by: Instant) -> Self {
        Self {
            by,
            request: Fate::current(),
            span: tracing::Span::current(),
        }
    }

    /// Passes the request's point of no return: false if it was abandoned.
    fn proceed(&self) -> bool {
        self.request.as_ref().is_none_or(Fate::proceed)
    }
}

pub enum HostMessage<A: Aggregate> {
    /// Run a command, unless its caller is gone, its start-by time has passed or its request
    /// was abandoned (then it is refused as `Unavailable`: the caller would give up before it
    /// could finish, or has been told it failed).
    Run(A::Command, Start),
    /// Stop if idle since the last command (sent by the host's own timer). Handled between
    /// commands, so an aggregate is never passivated in the middle of one.
    Passivate,
    /// Stop now, finishing what is queued (the router makes room for another aggregate).
    Evict,
}

impl<A: Aggregate> HostMessage<A> {
    /// Answers a command with `refusal` instead of delivering it.
    pub fn refuse(self, refusal: Refusal) {
        if let Self::Run(command, _) = self {
            command.refuse(refusal);
        }
    }
}

impl<A: Aggregate> Actor for AggregateHost<A> {
    type Msg = HostMessage<A>;
    type State = HostState<A>;
    type Arguments = HostArgs<A>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: HostArgs<A>,
    ) -> Result<HostState<A>, ActorProcessingErr> {
        Ok(HostState {
            aggregate: args.fresh.then(|| A::fresh(args.id)),
            id: args.id,
            services: args.services,
            queued: args.queued,
            idle_timeout: args.idle_timeout,
            reload_each_command: args.reload_each_command,
            last_active: Instant::now(),
            idle_timer_armed: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut HostState<A>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            HostMessage::Run(command, start) => {
                state.queued.take();
                state.last_active = Instant::now();
                let span = start.span.clone();
                state.run(command, start).instrument(span).await?;
            }
            HostMessage::Passivate => {
                state.idle_timer_armed = false;
                let idle = state.last_active.elapsed();
                if idle >= state.idle_timeout {
                    passivate(&myself, "idle");
                } else {
                    state.arm_idle_timer(&myself, state.idle_timeout - idle);
                }
                return Ok(());
            }
            HostMessage::Evict => {
                passivate(&myself, "lru");
                return Ok(());
            }
        }
        if state.aggregate.as_ref().is_some_and(A::is_empty) {
            // Nothing to hold: finish what is queued, then stop. Later commands are
            // re-routed by the router to a new incarnation.
            let _ = myself.drain();
        } else if !state.idle_timer_armed {
            state.arm_idle_timer(&myself, state.idle_timeout);
        }
        Ok(())
    }
}

/// Stops by draining: what is queued is still handled; the router re-routes what comes after.
fn passivate<A: Aggregate>(myself: &ActorRef<HostMessage<A>>, reason: &'static str) {
    if myself.drain().is_ok() {
        metrics::counter!(names::AGGREGATE_PASSIVATIONS, "kind" => A::KIND, "reason" => reason)
            .increment(1);
    }
}

fn abandoned<A: Aggregate>(reason: &'static str) {
    metrics::counter!(names::COMMANDS_ABANDONED, "kind" => A::KIND, "reason" => reason)
        .increment(1);
}

impl<A: Aggregate> HostState<A> {
    fn arm_idle_timer(&mut self, myself: &ActorRef<HostMessage<A>>, after: Duration) {
        self.idle_timer_armed = true;
        myself.send_after(after, || HostMessage::Passivate);
    }

    /// Runs one command. An `Err` fails the actor (counted toward quarantine): the state
    /// could not be loaded or may be corrupt.
    async fn run(&mut self, command: A::Command, start: Start) -> Result<(), ActorProcessingErr> {
        if command.caller_gone() {
            abandoned::<A>("caller_gone");
            return Ok(());
        }
        if Instant::now() > start.by {
            abandoned::<A>("too_late");
            command.refuse(Refusal::Unavailable);
            return Ok(());
        }
        tracing::debug!(kind = A::KIND, id = %self.id, loaded = self.aggregate.is_some(), "aggregate runs a command");
        let aggregate = match &mut self.aggregate {
            Some(aggregate) => aggregate,
            empty => {
                let started = std::time::Instant::now();
                // Boxed, like the command below, so that the host's processing loop stays
                // small while it waits for its next message.
                match Box::pin(A::load(self.id, &self.services)).await {
                    Ok(loaded) => {
                        metrics::histogram!(names::AGGREGATE_REHYDRATION, "kind" => A::KIND)
                            .record(started.elapsed().as_secs_f64());
                        let loaded = empty.insert(loaded);
                        // The load is not in the caller's budget: past the start-by time
                        // now, the command could outlast its caller's wait.
                        if Instant::now() > start.by {
                            abandoned::<A>("too_late");
                            command.refuse(Refusal::Unavailable);
                            return Ok(());
                        }
                        loaded
                    }
                    // The next command tries the load again.
                    Err(LoadError::Outage) => {
                        command.refuse(Refusal::Unavailable);
                        return Ok(());
                    }
                    Err(e) => {
                        command.refuse(Refusal::Unavailable);
                        return Err(format!("{} {}: {e}", A::KIND, self.id).into());
                    }
                }
            }
        };
        // The last check before the command runs: from here on its request waits for it.
        if !start.proceed() {
            abandoned::<A>("caller_gone");
            command.refuse(Refusal::Unavailable);
            return Ok(());
        }
        // Each command's future is boxed for the time it runs: inline, the largest command
        // future would size the processing loop that every live aggregate keeps allocated.
        let handled = Box::pin(aggregate.handle(command, &self.services)).await;
        if self.reload_each_command {
            // Another replica may write it before the next command: it reads it again.
            self.aggregate = None;
        }
        match handled {
            Handled::Done => Ok(()),
            Handled::Unsure => {
                tracing::warn!(kind = A::KIND, id = %self.id, "a write's fate is unknown; the state is reloaded before the next command");
                self.aggregate = None;
                Ok(())
            }
            Handled::Broken(reason) => Err(format!(
                "{} {} may be corrupt ({reason}); restarting from the store",
                A::KIND,
                self.id
            )
            .into()),
        }
    }
}
