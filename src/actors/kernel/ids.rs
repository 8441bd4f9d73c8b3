//! Ids for new aggregates of one kind, taken from blocks of the kind's durable sequence that
//! the router reserves ahead of need, in a task of its own: a creation seldom waits for
//! a reservation, and the router's loop never does. A reserved id is never handed out twice;
//! ids of a block left unused (a restart) are simply skipped.

/// How many ids one reservation takes from the store.
pub(super) const ID_BLOCK: u64 = 1024;

#[derive(Debug, Default)]
pub(super) struct IdBlocks {
    next: u64,
    end: u64,
    /// The first id of a block reserved ahead and not yet in use.
    spare: Option<u64>,
    /// A reservation is on its way.
    reserving: bool,
}

impl IdBlocks {
    /// The next id, if one is reserved.
    pub fn take(&mut self) -> Option<u64> {
        if self.next >= self.end {
            let first = self.spare.take()?;
            self.next = first;
            self.end = first + ID_BLOCK;
        }
        self.next += 1;
        Some(self.next - 1)
    }

    /// Whether to start a reservation now: none is on its way or spare, and the block in use
    /// is at least half gone.
    pub fn wants_more(&self) -> bool {
        !self.reserving
            && self.spare.is_none()
            && self.end.saturating_sub(self.next) <= ID_BLOCK / 2
    }

    pub fn reserving(&mut self) {
        self.reserving = true;
    }

    /// A reservation ended: with the first id of its block, or without one (it failed).
    pub fn reserved(&mut self, first: Option<u64>) {
        self.reserving = false;
        if first.is_some() {
            self.spare = first;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_reserved_blocks_in_order_and_more_are_wanted_at_half_a_block() {
        let mut ids = IdBlocks::default();
        assert_eq!(ids.take(), None, "nothing reserved yet");
        assert!(ids.wants_more());
        ids.reserving();
        assert!(!ids.wants_more(), "one reservation at a time");
        ids.reserved(Some(1));
        assert_eq!(ids.take(), Some(1));
        assert_eq!(ids.take(), Some(2));
        assert!(!ids.wants_more(), "most of the block is left");
        for expected in 3..=ID_BLOCK / 2 {
            assert_eq!(ids.take(), Some(expected));
        }
        assert!(ids.wants_more(), "half the block is gone");
        ids.reserving();
        ids.reserved(None);
        assert!(ids.wants_more(), "a failed reservation is tried again");
        ids.reserving();
        ids.reserved(Some(5_000));
        for expected in ID_BLOCK / 2 + 1..=ID_BLOCK {
            assert_eq!(ids.take(), Some(expected));
        }
        assert_eq!(ids.take(), Some(5_000), "then the spare block");
        assert!(!ids.wants_more());
    }
}
