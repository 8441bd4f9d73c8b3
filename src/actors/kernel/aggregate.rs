//! The one line between generic and specific code: what an aggregate kind supplies to the
//! kernel ([`Aggregate`], [`Command`]) and what the kernel answers when the aggregate could
//! not ([`AggregateError`], [`Refusal`]).

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;

/// An aggregate's id: assigned by the kernel from the kind's sequence, never reused.
pub trait AggregateId: Copy + Eq + Hash + Display + Debug + Send + Sync + 'static {
    /// The id a value of the kind's sequence names.
    fn from_sequence(value: u64) -> Self;
}

/// One kind of aggregate: its state (`Self`), commands, domain error and how it loads and
/// handles a command. The kernel hosts one actor per live aggregate; the kind never sees
/// mailboxes, routers or passivation.
pub trait Aggregate: Sized + Send + 'static {
    /// The kind's name, as metrics and logs say it; also the name of its id sequence in the
    /// store.
    const KIND: &'static str;
    type Id: AggregateId;
    /// The kind's commands, each with the port its caller waits on (answered with a
    /// [`CommandResult`]).
    type Command: Command;
    /// The kind's own failures: answers such as "not found" or "declined", never faults.
    type Error: Send + 'static;
    /// What the kind's handling needs besides its state: the store, the writer, other actors.
    type Services: Send + Sync + 'static;

    /// The state of an id that was just allocated: nothing stored yet.
    fn fresh(id: Self::Id) -> Self;

    /// The state as stored (an aggregate with nothing stored is [`Aggregate::is_empty`]).
    /// Runs in the aggregate's own actor, never in the router's loop.
    fn load(
        id: Self::Id,
        services: &Self::Services,
    ) -> impl Future<Output = Result<Self, LoadError>> + Send;

    /// Runs one command and answers its caller. What it returns says whether the state it
    /// leaves in memory can be trusted.
    fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
    ) -> impl Future<Output = Handled> + Send;

    /// Nothing to hold (unknown, removed, a creation that was refused): the host stops
    /// after the commands already queued.
    fn is_empty(&self) -> bool;
}

/// A kind's command: the kernel asks whether its caller still waits and, when it will not run
/// it, answers it with the reason.
pub trait Command: Send + 'static {
    /// True once nobody waits for the answer (the caller timed out or went away): the command
    /// must not start, since its caller was already told it failed.
    fn caller_gone(&self) -> bool;

    /// Answers the caller with `refusal` instead of running the command.
    fn refuse(self, refusal: Refusal);
}

/// How a command left the aggregate's state in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Handled {
    /// The state in memory is what the store holds.
    Done,
    /// A write's fate is unknown (it timed out): the state is reloaded from the store before
    /// the next command. Not the aggregate's fault; it does not count toward quarantine.
    Unsure,
    /// The aggregate's state may be corrupt: its actor fails (counted toward quarantine) and
    /// the next command starts a new incarnation from the store.
    Broken(String),
}

impl Handled {
    /// `Unsure` if a write's fate is unknown, else `Done`.
    pub fn unless_unsure(unsure: bool) -> Self {
        if unsure { Self::Unsure } else { Self::Done }
    }
}

/// How many times a command whose write another replica got ahead of (a version conflict) is
/// decided again on the state read anew before it answers 409.
pub const CONFLICT_RETRIES: usize = 2;

/// Runs `$run` (a command of `self`) again while it answers `$conflict` (another replica
/// wrote the aggregate first): each time `$reread` reads the state anew (a `Result<(),
/// Refusal>`), at most [`CONFLICT_RETRIES`] times; counted by kind.
#[macro_export]
macro_rules! retry_conflicts {
    ($kind:expr, $conflict:pat, $reread:expr, $run:expr) => {{
        let mut attempt = 0;
        loop {
            match $run {
                Err($conflict) if attempt < $crate::actors::kernel::CONFLICT_RETRIES => {
                    attempt += 1;
                    metrics::counter!($crate::telemetry::names::CONFLICTS_RETRIED, "kind" => $kind)
                        .increment(1);
                    if let Err(refused) = $reread {
                        break Err(refused.into());
                    }
                }
                done => break done,
            }
        }
    }};
}

/// The refusal for a state that could not be read again.
pub fn unread(e: LoadError) -> Refusal {
    match e {
        LoadError::Outage => Refusal::Unavailable,
        LoadError::Failed(_) => Refusal::Internal,
    }
}

/// An aggregate's stored state, read by `read`; an outage apart from other failures.
pub async fn read_state<T>(
    read: impl Future<Output = Result<T, crate::store::StoreError>>,
) -> Result<T, LoadError> {
    read.await.map_err(|e| match e.is_outage() {
        true => LoadError::Outage,
        false => LoadError::Failed(e.to_string()),
    })
}

/// The state could not be read from the store.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store is out of service for a while (a storage I/O error, being reopened): not
    /// the aggregate's fault, so it does not count toward quarantine.
    #[error("the store is unavailable")]
    Outage,
    #[error("loading the aggregate failed: {0}")]
    Failed(String),
}

/// Why the kernel answered a command instead of the aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its mailbox is full.
    #[error("too many commands are queued for this aggregate")]
    Busy,
    /// It failed repeatedly and an operator has not released it.
    #[error("the aggregate failed repeatedly and is quarantined")]
    Quarantined,
    /// No answer in time: starting, shutting down, or the command waited too long to start.
    #[error("the service is busy or shutting down")]
    Unavailable,
    /// A fault of ours (it is logged where it happens).
    #[error("internal error")]
    Internal,
}

/// What a command of kind `A` answers: its output, or why not.
pub type CommandResult<A, T> = Result<T, AggregateError<<A as Aggregate>::Error>>;

/// A command's failure: the domain's own error `E`, or the kernel's refusal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggregateError<E> {
    #[error("{0}")]
    Domain(E),
    #[error("{0}")]
    Refused(#[from] Refusal),
}
