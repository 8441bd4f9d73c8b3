//! Read queries. Each runs in its own read transaction (a consistent snapshot) and never
//! waits for the writer.

use super::codec::decode;
use super::tables::*;
use super::{Redb, StoreError};
use crate::domain::MessageId;
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::Mypage;
use crate::domain::{CustomerId, Event, Payment, PaymentId, PaymethodId, Position, StoredMethod};
use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;

mod access;
mod intents;
mod orders;

/// One page of a listing ordered by id, and the id to continue after (if there is more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<u64>,
}

impl<T> Page<T> {
    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_after: self.next_after,
        }
    }
}

impl Redb {
    pub fn paymethod(&self, id: PaymethodId) -> Result<Option<StoredMethod>, StoreError> {
        self.get(PAYMETHODS, id.0)
    }

    pub fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        self.get(PAYMENTS, id.0)
    }

    /// A customer's payment methods with ids above `after`, at most `limit` of them.
    pub fn paymethods_of(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.customer_page(OF_PAYMETHODS, PAYMETHODS, customer, after, limit)
    }

    /// A customer's payment records with ids above `after`.
    pub fn payments_of_customer(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Payment>, StoreError> {
        self.customer_page(OF_PAYMENTS, PAYMENTS, customer, after, limit)
    }

    /// The payment records of one payment method with ids above `after`.
    pub fn payments_of_paymethod(
        &self,
        paymethod: PaymethodId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Payment>, StoreError> {
        let txn = self.read()?;
        let index = txn.open_table(PAYMENTS_BY_PAYMETHOD)?;
        let rows = txn.open_table(PAYMENTS)?;
        let range = (paymethod.0, after.saturating_add(1))..=(paymethod.0, u64::MAX);
        let ids = index.range(range)?.map(|r| r.map(|(k, _)| k.value().1));
        page(ids, limit, |id| fetch(&rows, id))
    }

    /// The record kept under a customer's idempotency key, if any.
    pub fn idempotency(
        &self,
        customer: &CustomerId,
        key: &crate::domain::IdempotencyKey,
    ) -> Result<Option<crate::domain::idempotency::IdempotencyRecord>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(IDEMPOTENCY)?;
        let value = table.get((customer.as_str(), key.as_str()))?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// A customer's messages with ids above `after`.
    pub fn messages_of(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Message>, StoreError> {
        self.customer_page(OF_MESSAGES, MESSAGES, customer, after, limit)
    }

    pub fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        self.get(MESSAGES, id.0)
    }

    /// The messages with these ids, in the same order (`None` where there is none yet).
    pub fn messages_by_id(&self, ids: &[MessageId]) -> Result<Vec<Option<Message>>, StoreError> {
        let txn = self.read()?;
        let rows = txn.open_table(MESSAGES)?;
        ids.iter().map(|id| fetch(&rows, id.0)).collect()
    }

    /// Messages still waiting for a channel, by id.
    pub fn pending_messages(&self) -> Result<Vec<Message>, StoreError> {
        let txn = self.read()?;
        let pending = txn.open_table(MESSAGES_PENDING)?;
        let rows = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for row in pending.iter()? {
            if let Some(m) = fetch(&rows, row?.0.value())? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Every recorded delivery attempt of a message, in order.
    pub fn attempts_of(&self, message: MessageId) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(DELIVERY_ATTEMPTS)?;
        let mut out = Vec::new();
        for row in table.range((message.0, 0)..=(message.0, u32::MAX))? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// A customer's stored mypage view, as of the projector's checkpoint (`None` when the
    /// view has nothing).
    pub fn mypage(&self, customer: &CustomerId) -> Result<Option<Mypage>, StoreError> {
        let txn = self.read()?;
        let view = txn.open_table(MYPAGE)?;
        let rows = |what: u8| (customer.as_str(), what, 0)..=(customer.as_str(), what, u64::MAX);
        let mut methods = Vec::new();
        for row in view.range(rows(VIEW_METHOD))? {
            methods.push(decode(row?.1.value())?);
        }
        let mut recent = Vec::new();
        for row in view.range(rows(VIEW_MESSAGE))?.rev() {
            recent.push(decode(row?.1.value())?);
        }
        let mut orders = Vec::new();
        for row in view.range(rows(VIEW_ORDER))?.rev() {
            orders.push(decode(row?.1.value())?);
        }
        if methods.is_empty() && recent.is_empty() && orders.is_empty() {
            return Ok(None);
        }
        Ok(Some(Mypage::from_rows(
            customer.clone(),
            methods,
            recent,
            orders,
        )))
    }

    /// Where the reader `name` has got to in the event log.
    pub fn checkpoint(&self, name: &str) -> Result<super::Checkpoint, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        let position = Position(table.get(name)?.map(|v| v.value()).unwrap_or(0));
        Ok(super::Checkpoint {
            at: super::Cursor::at(position),
            stream: 0,
        })
    }

    /// Events after `after`, in log order, at most `limit` of them.
    pub fn events_after(&self, after: Position, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for row in events.range(after.0.saturating_add(1)..)?.take(limit) {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// The last recorded event position (0 before the first event).
    pub fn last_position(&self) -> Result<Position, StoreError> {
        let txn = self.read()?;
        let events = txn.open_table(EVENTS)?;
        Ok(Position(
            events.last()?.map(|(k, _)| k.value()).unwrap_or(0),
        ))
    }

    /// Rows of `rows` that [`BY_CUSTOMER`] lists for `customer` under `what`, by id.
    fn customer_page<T: DeserializeOwned>(
        &self,
        what: u8,
        rows: TableDefinition<u64, &[u8]>,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let txn = self.read()?;
        let index = txn.open_table(BY_CUSTOMER)?;
        let rows = txn.open_table(rows)?;
        let c = customer.as_str();
        let range = (c, what, after.saturating_add(1))..=(c, what, u64::MAX);
        let ids = index.range(range)?.map(|r| r.map(|(k, _)| k.value().2));
        page(ids, limit, |id| fetch(&rows, id))
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<u64, &[u8]>,
        id: u64,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.read()?;
        let rows = txn.open_table(table)?;
        fetch(&rows, id)
    }
}

fn fetch<T: DeserializeOwned>(
    rows: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
) -> Result<Option<T>, StoreError> {
    rows.get(id)?.map(|v| decode(v.value())).transpose()
}

/// Collects up to `limit` items from `ids`, looking one further to know if there is more.
fn page<T>(
    ids: impl Iterator<Item = Result<u64, redb::StorageError>>,
    limit: usize,
    mut load: impl FnMut(u64) -> Result<Option<T>, StoreError>,
) -> Result<Page<T>, StoreError> {
    let mut items = Vec::new();
    let mut last = 0;
    let mut more = false;
    for id in ids {
        let id = id?;
        if items.len() == limit {
            more = true;
            break;
        }
        if let Some(item) = load(id)? {
            items.push(item);
            last = id;
        }
    }
    Ok(Page {
        items,
        next_after: more.then_some(last),
    })
}
