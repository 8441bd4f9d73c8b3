//! Read queries on PostgreSQL: one per read of the embedded store (`store/read.rs` and its
//! modules), with the same name, arguments, order, paging and limits. Each is one statement
//! (a consistent snapshot), except a full page of a customer's messages, which asks once more
//! whether more follow. The event log is read through `log.rs` instead.

use super::record::{at_most, decode, int, one_more_than, past, uint};
use super::{PgError, Postgres};
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::Mypage;
use crate::domain::{
    CustomerId, IdempotencyKey, MessageId, Payment, PaymentId, PaymethodId, StoredMethod,
};
use crate::store::Page;
use crate::store::tables::{VIEW_MESSAGE, VIEW_METHOD, VIEW_ORDER};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

mod access;
mod intents;
mod orders;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Postgres {
    pub async fn paymethod(&self, id: PaymethodId) -> Result<Option<StoredMethod>, PgError> {
        let sql = "SELECT record FROM paymethods WHERE id = $1";
        self.record(sql, &[&int(id.0)?]).await
    }

    pub async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, PgError> {
        let sql = "SELECT record FROM payments WHERE id = $1";
        self.record(sql, &[&int(id.0)?]).await
    }

    /// A customer's payment methods with ids above `after`, at most `limit` of them.
    pub async fn paymethods_of(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<StoredMethod>, PgError> {
        let sql = "SELECT id, record FROM paymethods WHERE customer = $1 AND id > $2
                   ORDER BY id LIMIT $3";
        self.page(sql, &[&customer.as_str()], after, limit).await
    }

    /// A customer's payment records with ids above `after`.
    pub async fn payments_of_customer(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Payment>, PgError> {
        let sql = "SELECT id, record FROM payments WHERE customer = $1 AND id > $2
                   ORDER BY id LIMIT $3";
        self.page(sql, &[&customer.as_str()], after, limit).await
    }

    /// The payment records of one payment method with ids above `after`.
    pub async fn payments_of_paymethod(
        &self,
        paymethod: PaymethodId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Payment>, PgError> {
        let sql = "SELECT id, record FROM payments WHERE paymethod = $1 AND id > $2
                   ORDER BY id LIMIT $3";
        self.page(sql, &[&int(paymethod.0)?], after, limit).await
    }

    /// The record kept under a customer's idempotency key, if any.
    pub async fn idempotency(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, PgError> {
        let sql = "SELECT record FROM idempotency WHERE customer = $1 AND idem_key = $2";
        self.record(sql, &[&customer.as_str(), &key.as_str()]).await
    }

    /// A customer's messages with ids above `after`. A message is listed from the command
    /// that recorded its event and shown once the notifier has created it: one not created
    /// yet is skipped, but still tells that more may follow (as in the embedded store).
    pub async fn messages_of(
        &self,
        customer: &CustomerId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Message>, PgError> {
        let (customer, after) = (customer.as_str(), past(after));
        let listed = "SELECT m.id, m.record FROM customer_messages c
                      JOIN messages m ON m.id = c.id
                      WHERE c.customer = $1 AND c.id > $2 ORDER BY c.id LIMIT $3";
        let rows = self
            .rows(listed, &[&customer, &after, &at_most(limit)])
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in &rows {
            last = Some(uint(row.get(0))?);
            items.push(decode(row.get(1))?);
        }
        let more = if items.len() == limit {
            let beyond = last.map_or(after, past);
            let further = "SELECT EXISTS (SELECT FROM customer_messages
                                          WHERE customer = $1 AND id > $2)";
            let row = self.row(further, &[&customer, &beyond]).await?;
            row.is_some_and(|row| row.get(0))
        } else {
            false
        };
        Ok(Page {
            items,
            next_after: more.then_some(last.unwrap_or(0)),
        })
    }

    pub async fn message(&self, id: MessageId) -> Result<Option<Message>, PgError> {
        let sql = "SELECT record FROM messages WHERE id = $1";
        self.record(sql, &[&int(id.0)?]).await
    }

    /// The messages with these ids, in the same order (`None` where there is none yet).
    pub async fn messages_by_id(&self, ids: &[MessageId]) -> Result<Vec<Option<Message>>, PgError> {
        let keys = ids
            .iter()
            .map(|id| int(id.0))
            .collect::<Result<Vec<_>, _>>()?;
        let sql = "SELECT id, record FROM messages WHERE id = ANY($1)";
        let mut found = HashMap::new();
        for row in self.rows(sql, &[&keys]).await? {
            found.insert(row.get::<_, i64>(0), row);
        }
        keys.iter()
            .map(|key| found.get(key).map(|row| decode(row.get(1))).transpose())
            .collect()
    }

    /// Messages still waiting for a channel, by id.
    pub async fn pending_messages(&self) -> Result<Vec<Message>, PgError> {
        let sql = "SELECT record FROM messages WHERE pending ORDER BY id";
        self.records(sql, &[]).await
    }

    /// Every recorded delivery attempt of a message, in order.
    pub async fn attempts_of(&self, message: MessageId) -> Result<Vec<DeliveryAttempt>, PgError> {
        let sql = "SELECT record FROM delivery_attempts WHERE message = $1 ORDER BY number";
        self.records(sql, &[&int(message.0)?]).await
    }

    /// A customer's stored mypage view, as of the projector's checkpoint (`None` when the
    /// view has nothing).
    pub async fn mypage(&self, customer: &CustomerId) -> Result<Option<Mypage>, PgError> {
        let sql = "SELECT what, record FROM mypage WHERE customer = $1 ORDER BY what, id";
        let (mut methods, mut recent, mut orders) = (Vec::new(), Vec::new(), Vec::new());
        for row in self.rows(sql, &[&customer.as_str()]).await? {
            let (what, record) = (row.get::<_, i16>(0), row.get(1));
            match u8::try_from(what) {
                Ok(VIEW_METHOD) => methods.push(decode(record)?),
                Ok(VIEW_MESSAGE) => recent.push(decode(record)?),
                Ok(VIEW_ORDER) => orders.push(decode(record)?),
                _ => {}
            }
        }
        if methods.is_empty() && recent.is_empty() && orders.is_empty() {
            return Ok(None);
        }
        // Messages and orders newest first.
        recent.reverse();
        orders.reverse();
        Ok(Some(Mypage::from_rows(
            customer.clone(),
            methods,
            recent,
            orders,
        )))
    }

    async fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    async fn row(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, PgError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_opt(&statement, params).await?)
    }

    /// The record in the first column of the row `sql` finds.
    async fn record<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<T>, PgError> {
        self.row(sql, params)
            .await?
            .map(|row| decode(row.get(0)))
            .transpose()
    }

    /// The records in the first column of the rows `sql` finds, in its order.
    async fn records<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<T>, PgError> {
        self.rows(sql, params)
            .await?
            .iter()
            .map(|row| decode(row.get(0)))
            .collect()
    }

    /// A page of (id, record) rows: `sql` takes `owner`'s parameters, then the id to list
    /// after and how many rows to fetch (one more than `limit`, which tells if more follow).
    async fn page<T: DeserializeOwned>(
        &self,
        sql: &str,
        owner: Params<'_>,
        after: u64,
        limit: usize,
    ) -> Result<Page<T>, PgError> {
        self.page_with(sql, owner, after, limit, |_, record| decode(record))
            .await
    }

    /// [`Postgres::page`], each item made by `make` of its id and record.
    async fn page_with<T>(
        &self,
        sql: &str,
        owner: Params<'_>,
        after: u64,
        limit: usize,
        make: impl Fn(u64, &[u8]) -> Result<T, PgError>,
    ) -> Result<Page<T>, PgError> {
        let (after, fetch) = (past(after), one_more_than(limit));
        let mut params = owner.to_vec();
        params.push(&after);
        params.push(&fetch);
        let rows = self.rows(sql, &params).await?;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut last = 0;
        for row in rows.iter().take(limit) {
            last = uint(row.get(0))?;
            items.push(make(last, row.get(1))?);
        }
        Ok(Page {
            items,
            next_after: (rows.len() > limit).then_some(last),
        })
    }
}
