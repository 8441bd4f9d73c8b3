//! Reads for the reconciler: open intents by age, refunds owed, and named settings.

use crate::domain::Timestamp;
use crate::domain::intent::{Intent, RefundOwed};
use crate::store::codec::decode;
use crate::store::tables::*;
use crate::store::{Redb, StoreError};
use redb::ReadableTableMetadata;
use std::ops::Bound;

impl Redb {
    /// Open intents opened before `before`, oldest first, at most `limit` of them; with
    /// `after`, only those that come after that intent (so a caller can page past intents it
    /// could not settle).
    pub fn open_intents_before(
        &self,
        before: Timestamp,
        after: Option<&Intent>,
        limit: usize,
    ) -> Result<Vec<Intent>, StoreError> {
        let txn = self.read()?;
        let open = txn.open_table(INTENTS_OPEN)?;
        let intents = txn.open_table(INTENTS)?;
        let cutoff = Bound::Excluded((index_ms(before), ""));
        let start = match after {
            Some(i) => Bound::Excluded((index_ms(i.opened_at), i.base.as_str())),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for row in open.range::<(u64, &str)>((start, cutoff))?.take(limit) {
            let (key, _) = row?;
            if let Some(bytes) = intents.get(key.value().1)? {
                out.push(decode(bytes.value())?);
            }
        }
        Ok(out)
    }

    /// How many intents are open.
    pub fn open_intents(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        Ok(txn.open_table(INTENTS_OPEN)?.len()?)
    }

    /// Refunds owed, by authorization, after the authorization `after` when given, at most
    /// `limit` of them.
    pub fn refunds_owed(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RefundOwed>, StoreError> {
        let txn = self.read()?;
        let owed = txn.open_table(REFUNDS_OWED)?;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::new();
        for row in owed.range::<&str>((start, Bound::Unbounded))?.take(limit) {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// A named setting kept with `Command::PutMeta`.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(name)?.map(|v| v.value().to_vec()))
    }
}
