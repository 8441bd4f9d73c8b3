//! Where a reader of the event log is, and how it moves.

use crate::domain::Position;

/// The last event a reader took, in commit order. [`Cursor::default`] is before the first.
///
/// The embedded store's positions are in commit order by themselves (its one writer hands
/// them out in its transaction): its cursors have `xid` 0. PostgreSQL hands positions out in
/// the order transactions ask for them, not the order they commit in, so its cursors order
/// events by their transaction's id first (see `postgres::log`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The transaction that wrote it (PostgreSQL's 64-bit `xid8`, never wrapping).
    pub xid: u64,
    pub position: i64,
}

impl Cursor {
    /// The embedded store's cursor at `position`.
    pub fn at(position: Position) -> Self {
        Self {
            xid: 0,
            position: i64::try_from(position.0).unwrap_or(i64::MAX),
        }
    }

    /// The event's position.
    pub fn position(&self) -> Position {
        Position(u64::try_from(self.position).unwrap_or(0))
    }
}

/// Where a log reader is: its last event, and that event's sequence number in the bus's
/// stream when the reader reads from NATS JetStream (0 otherwise), where it goes on from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub at: Cursor,
    pub stream: u64,
}

/// A log reader's move past a batch: from the cursor it read the batch after to the batch's
/// last event. The store moves the reader's checkpoint only if it is still at `from`;
/// otherwise the command is refused (`Rejected::VersionConflict`) and writes nothing, so two
/// readers of one log (a replica that lost the reader's lease and one that took it) never
/// both apply a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    pub from: Cursor,
    pub to: Checkpoint,
}
