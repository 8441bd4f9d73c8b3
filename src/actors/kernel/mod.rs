//! The generic machinery every aggregate kind shares, written once: the [`Aggregate`] trait
//! a kind implements, the host actor that runs one aggregate, the router of a kind, the
//! store-writer handle and the swappable reference to a supervised actor. Nothing here names
//! a kind; adding one means implementing [`Aggregate`] and starting a [`RouterActor`] for it.

mod aggregate;
mod handle;
mod host;
mod ids;
mod mailbox;
mod router;
mod slot;
mod supervisor;
mod tail;
mod writer;

pub use aggregate::{
    Aggregate, AggregateError, AggregateId, CONFLICT_RETRIES, Command, CommandResult, Handled,
    LoadError, Refusal, read_state, unread,
};
pub use handle::Aggregates;
pub use host::Start;
pub use router::{RouterActor, RouterArgs, RouterMessage};
pub use slot::Slot;
pub use supervisor::{ChildSpec, RootActor, RootArgs, RootMessage, StopBy};
pub use tail::{LogTail, is_outage};
pub use writer::{PendingWrite, WriteError, Writer};

#[cfg(test)]
mod tests;
