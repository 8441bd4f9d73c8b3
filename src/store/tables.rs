//! Table definitions. Secondary indexes are tables keyed by `(owner, id)` or, where rows of
//! several kinds share one (a customer's), `(owner, kind, id)`, with empty values, written in
//! the same transaction as the row they index.

use redb::{
    Database, Key, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    Value, WriteTransaction,
};

/// Payment-method id → encoded `PaymentMethod`. Removed methods are deleted.
pub const PAYMETHODS: TableDefinition<u64, &[u8]> = TableDefinition::new("paymethods");
/// (customer, what, id) → (): a customer's payment methods, payment records and messages, one
/// index for all three, so that the rows one command adds for a customer share a page (a
/// registration adds three; in separate tables each was a page written of its own). A
/// message is listed by the command that records its event, before the notifier creates it.
pub const BY_CUSTOMER: TableDefinition<(&str, u8, u64), ()> = TableDefinition::new("by_customer");
/// Global position → encoded `Event`. Append-only; positions have no gaps.
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Payment id → encoded `Payment`.
pub const PAYMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("payments");
/// (payment-method id, payment id) → ().
pub const PAYMENTS_BY_PAYMETHOD: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("payments_by_paymethod");
/// Message id (its event's position: one message per event) → encoded `Message`.
pub const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
/// Message id → (): the messages still waiting for a channel.
pub const MESSAGES_PENDING: TableDefinition<u64, ()> = TableDefinition::new("messages_pending");
/// (message id, attempt number) → encoded `DeliveryAttempt`.
pub const DELIVERY_ATTEMPTS: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("delivery_attempts");
/// The mypage view, one table for both kinds of row (so one event's rows share a page):
/// (customer, [`VIEW_METHOD`], payment-method id) → encoded `MethodSnapshot`, and
/// (customer, [`VIEW_MESSAGE`], message id) → encoded `Message` as folded.
pub const MYPAGE: TableDefinition<(&str, u8, u64), &[u8]> = TableDefinition::new("mypage");
pub const VIEW_METHOD: u8 = 0;
pub const VIEW_MESSAGE: u8 = 1;
/// (customer, [`VIEW_ORDER`], order id) → encoded `OrderView`.
pub const VIEW_ORDER: u8 = 2;
/// Reader name → the last event position it has fully handled.
pub const CHECKPOINTS: TableDefinition<&str, u64> = TableDefinition::new("checkpoints");

/// (customer, Idempotency-Key) → encoded `IdempotencyRecord`.
pub const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");
/// (created ms since the epoch, customer, Idempotency-Key) → (): records by age, for pruning.
pub const IDEMPOTENCY_BY_TIME: TableDefinition<(u64, &str, &str), ()> =
    TableDefinition::new("idempotency_by_time");
/// Intent base → encoded `Intent`: every payment call started whose outcome is not stored.
pub const INTENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("intents");
/// (opened ms since the epoch, intent base) → (): the open intents by age.
pub const INTENTS_OPEN: TableDefinition<(u64, &str), ()> = TableDefinition::new("intents_open");

/// Milliseconds since the epoch as an index key (times before 1970 sort first).
pub fn index_ms(t: crate::domain::Timestamp) -> u64 {
    t.0.max(0) as u64
}

/// Authorization id → encoded `RefundOwed`: approvals to refund, until the refund is confirmed.
pub const REFUNDS_OWED: TableDefinition<&str, &[u8]> = TableDefinition::new("refunds_owed");
/// Name → encoded setting that must survive a restart (the breaker's open period).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Key hash → encoded `KeyRecord`: API keys, looked up by the keyed hash of the key.
pub const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
/// Key id → key hash.
pub const KEY_IDS: TableDefinition<&str, &str> = TableDefinition::new("key_ids");
/// Audit id → encoded `AuditEntry`: admin actions, in the order they were committed.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// Sku → encoded `Product`: the catalogue.
pub const PRODUCTS: TableDefinition<&str, &[u8]> = TableDefinition::new("products");

/// Order id → encoded `StoredOrder`.
pub const ORDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("orders");
/// Shipment id → encoded `Shipment`.
pub const SHIPMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("shipments");
/// Order id → its shipment's id: at most one shipment per order, whoever makes it.
pub const SHIPMENT_OF_ORDER: TableDefinition<u64, u64> = TableDefinition::new("shipment_of_order");
/// (status code, shipment id) → (): shipments by status, for the seller's listing.
pub const SHIPMENTS_BY_STATUS: TableDefinition<(u8, u64), ()> =
    TableDefinition::new("shipments_by_status");
/// (order id, step code) → (): the cancellation saga's steps still to carry out.
pub const SAGA_STEPS: TableDefinition<(u64, u8), ()> = TableDefinition::new("saga_steps");

/// What a [`BY_CUSTOMER`] row lists.
pub const OF_PAYMETHODS: u8 = 0;
pub const OF_PAYMENTS: u8 = 1;
pub const OF_MESSAGES: u8 = 2;
pub const OF_ORDERS: u8 = 3;

/// Sequence name → the next value to hand out.
pub const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");

/// The name of an aggregate kind's id sequence: `paymethod_id` for `paymethod`.
pub fn id_sequence(kind: &str) -> String {
    format!("{kind}_id")
}
pub const SEQ_PAYMENT: &str = "payment_id";
pub const SEQ_POSITION: &str = "event_position";
pub const SEQ_AUDIT: &str = "audit_id";
pub const SEQ_SHIPMENT: &str = "shipment_id";
/// The notifier's checkpoint name.
pub const NOTIFIER: &str = "notifier";
/// The `META` entry with the end of the breaker's open period (ms since the epoch, big-endian).
pub const BREAKER_OPEN_UNTIL: &str = "breaker_open_until";
/// The projector's checkpoint name.
pub const PROJECTOR: &str = "projector";
/// The shipping actor's checkpoint name.
pub const SHIPPING: &str = "shipping";
/// The cancellation saga's checkpoint name.
pub const SAGA: &str = "saga";
/// The `META` entry that says shipping is paused (present) or running (absent).
pub const SHIPPING_PAUSED: &str = "shipping_paused";
/// The `META` entry that tells the installation secret this store was made with from any
/// other (see `app::files::secret_check`).
pub const SECRET_CHECK: &str = "secret_check";

/// Tables of the layout before customer rows shared tables. Their rows are not read any more,
/// so a data directory that has them would seem to have lost every listing: it is refused.
/// (No release ever wrote them; only development data directories can have them.)
const OLD_TABLES: [&str; 5] = [
    "paymethods_by_customer",
    "payments_by_customer",
    "messages_by_customer",
    "mypage_methods",
    "mypage_messages",
];

/// The `META` entry naming the layout of the data (one byte): records of another layout do
/// not decode as this version's, so a data directory without this one is refused.
pub(super) const LAYOUT: &str = "layout";
/// 2: events carry an aggregate id and a payload per kind; a method's record holds the shown
/// method beside its secrets.
/// 3: payments, intents and messages may name an order (`super::migrate`
/// converts a layout-2 directory when it opens).
pub(super) const LAYOUT_VERSION: u8 = 3;

/// The layout a store's `META` names; `None` where it names none (no `META`: an empty store,
/// or one of the first layout).
pub fn layout_of(txn: &ReadTransaction) -> Result<Option<u8>, super::StoreError> {
    match txn.open_table(META) {
        Ok(meta) => Ok(meta.get(LAYOUT)?.and_then(|v| v.value().first().copied())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn refuse_old_layout(db: &Database) -> Result<(), super::StoreError> {
    let txn = db.begin_read()?;
    let tables: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
    if let Some(old) = tables.iter().find(|t| OLD_TABLES.contains(&t.as_str())) {
        return Err(super::StoreError::OldLayout(old.clone()));
    }
    if tables.is_empty() {
        return Ok(());
    }
    match layout_of(&txn)? {
        Some(LAYOUT_VERSION) => Ok(()),
        Some(2) => {
            drop(txn);
            super::migrate::from_layout_2(db)
        }
        found => Err(super::StoreError::OldFormat(found.unwrap_or(1))),
    }
}

/// Something done to every table of the store, with its key and value types. [`for_each`]
/// is the one list of tables: creating them at start and copying them into a backup both go
/// through it, so a table cannot be created and then left out of backups.
pub trait EachTable {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        table: TableDefinition<'static, K, V>,
    ) -> Result<(), super::StoreError>;
}

/// Calls `each` once for every table of the store.
pub fn for_each(each: &mut impl EachTable) -> Result<(), super::StoreError> {
    each.table(PAYMETHODS)?;
    each.table(BY_CUSTOMER)?;
    each.table(EVENTS)?;
    each.table(PAYMENTS)?;
    each.table(PAYMENTS_BY_PAYMETHOD)?;
    each.table(SEQUENCES)?;
    each.table(IDEMPOTENCY)?;
    each.table(MESSAGES)?;
    each.table(MESSAGES_PENDING)?;
    each.table(DELIVERY_ATTEMPTS)?;
    each.table(MYPAGE)?;
    each.table(CHECKPOINTS)?;
    each.table(IDEMPOTENCY_BY_TIME)?;
    each.table(INTENTS)?;
    each.table(INTENTS_OPEN)?;
    each.table(REFUNDS_OWED)?;
    each.table(API_KEYS)?;
    each.table(KEY_IDS)?;
    each.table(AUDIT)?;
    each.table(PRODUCTS)?;
    each.table(ORDERS)?;
    each.table(SHIPMENTS)?;
    each.table(SHIPMENT_OF_ORDER)?;
    each.table(SHIPMENTS_BY_STATUS)?;
    each.table(SAGA_STEPS)?;
    each.table(META)?;
    Ok(())
}

/// Opens (so creates) each table in a write transaction.
struct Create<'t>(&'t WriteTransaction);

impl EachTable for Create<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        table: TableDefinition<'static, K, V>,
    ) -> Result<(), super::StoreError> {
        self.0.open_table(table)?;
        Ok(())
    }
}

pub fn create_all(db: &Database) -> Result<(), super::StoreError> {
    let txn = db.begin_write()?;
    {
        for_each(&mut Create(&txn))?;
        let mut meta = txn.open_table(META)?;
        if meta.get(LAYOUT)?.is_none() {
            meta.insert(LAYOUT, [LAYOUT_VERSION].as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::{Redb, StoreError};
    use redb::{Database, TableDefinition};

    #[test]
    fn a_data_directory_with_the_old_layout_is_refused_and_a_current_one_opens_again() {
        let dir = tempfile::TempDir::new().unwrap();
        let current = dir.path().join("current.redb");
        drop(Redb::open(&current).unwrap());
        assert!(Redb::open(&current).is_ok());

        let old = dir.path().join("old.redb");
        {
            let db = Database::create(&old).unwrap();
            let txn = db.begin_write().unwrap();
            let table: TableDefinition<(&str, u64), ()> =
                TableDefinition::new("paymethods_by_customer");
            txn.open_table(table).unwrap();
            txn.commit().unwrap();
        }
        match Redb::open(&old) {
            Err(StoreError::OldLayout(name)) => assert_eq!(name, "paymethods_by_customer"),
            other => panic!("an old data directory was opened: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_data_directory_of_the_first_record_layout_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let first = dir.path().join("first.redb");
        {
            // What the layout before the kernel left: its tables, no layout entry.
            let db = Database::create(&first).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(super::PAYMETHODS).unwrap();
            txn.open_table(super::META).unwrap();
            txn.commit().unwrap();
        }
        match Redb::open(&first) {
            Err(e @ StoreError::OldFormat(1)) => {
                assert!(e.to_string().contains("fresh data directory"), "{e}")
            }
            other => panic!(
                "a first-layout data directory was opened: {:?}",
                other.map(|_| ())
            ),
        }
    }
}
