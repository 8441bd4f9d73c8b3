//! How callers (the HTTP handle, the saga) send a command to an aggregate of a kind: through
//! its router, with a deadline to start and a wait long enough for a started command to end.

use super::aggregate::{Aggregate, CommandResult};
use super::host::Start;
use super::router::RouterMessage;
use super::slot::Slot;
use crate::actors::{ask, call};
use ractor::RpcReplyPort;
use std::time::Duration;

/// The way to one kind's aggregates. Cheap to clone.
pub struct Aggregates<A: Aggregate> {
    router: Slot<RouterMessage<A>>,
    /// How long a command may wait in queues before it starts; past that it is refused
    /// without running.
    queue_wait: Duration,
    /// How long a caller waits: the queue wait and the longest a command may run once
    /// started, so a command that started always reaches its caller.
    command_wait: Duration,
}

impl<A: Aggregate> std::fmt::Debug for Aggregates<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aggregates({})", A::KIND)
    }
}

impl<A: Aggregate> Clone for Aggregates<A> {
    fn clone(&self) -> Self {
        Self {
            router: self.router.clone(),
            queue_wait: self.queue_wait,
            command_wait: self.command_wait,
        }
    }
}

impl<A: Aggregate> Aggregates<A> {
    pub fn new(
        router: Slot<RouterMessage<A>>,
        queue_wait: Duration,
        command_wait: Duration,
    ) -> Self {
        Self {
            router,
            queue_wait,
            command_wait,
        }
    }

    /// The router's slot (the supervisor fills it).
    pub fn router(&self) -> &Slot<RouterMessage<A>> {
        &self.router
    }

    /// Sends a command to aggregate `id` (a new one for `None`) and waits for its answer. A
    /// command still queued when its start-by time passes (or its request is abandoned at the
    /// server's shutdown deadline) is refused without running, and one that started is
    /// waited for until it ends: a caller told "unavailable" was never charged or changed by
    /// the command it sent.
    pub async fn command<T: Send + 'static>(
        &self,
        id: Option<A::Id>,
        build: impl FnOnce(RpcReplyPort<CommandResult<A, T>>) -> A::Command,
    ) -> CommandResult<A, T> {
        let router = self.router.get()?;
        let start = Start::by(tokio::time::Instant::now() + self.queue_wait);
        let message = |r| match id {
            Some(id) => RouterMessage::Route(id, build(r), start),
            None => RouterMessage::Create(build(r), start),
        };
        // Not `ask`: the request passes its point of no return when the command starts.
        call(&router, message, self.command_wait).await?
    }

    /// Lets a quarantined aggregate try again; false if it was not quarantined.
    pub async fn release(&self, id: A::Id) -> Result<bool, super::Refusal> {
        let router = self.router.get()?;
        let release = |r| RouterMessage::Release(id, r);
        ask(&router, release, Duration::from_secs(5)).await
    }
}
