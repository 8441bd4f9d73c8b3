//! Table definitions. Secondary indexes are tables keyed by `(owner, id)` with empty values,
//! written in the same transaction as the row they index.

use redb::{Database, TableDefinition};

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
/// Authorization id → encoded `RefundOwed`: approvals to refund, until the refund is confirmed.
pub const REFUNDS_OWED: TableDefinition<&str, &[u8]> = TableDefinition::new("refunds_owed");
/// Name → encoded setting that must survive a restart (the breaker's open period).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// What a [`BY_CUSTOMER`] row lists.
pub const OF_PAYMETHODS: u8 = 0;
pub const OF_PAYMENTS: u8 = 1;
pub const OF_MESSAGES: u8 = 2;

/// Sequence name → the next value to hand out.
pub const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");

pub const SEQ_PAYMETHOD: &str = "paymethod_id";
pub const SEQ_PAYMENT: &str = "payment_id";
pub const SEQ_POSITION: &str = "event_position";
/// The notifier's checkpoint name.
pub const NOTIFIER: &str = "notifier";
/// The `META` entry with the end of the breaker's open period (ms since the epoch, big-endian).
pub const BREAKER_OPEN_UNTIL: &str = "breaker_open_until";
/// The projector's checkpoint name.
pub const PROJECTOR: &str = "projector";

pub fn create_all(db: &Database) -> Result<(), super::StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(PAYMETHODS)?;
        txn.open_table(BY_CUSTOMER)?;
        txn.open_table(EVENTS)?;
        txn.open_table(PAYMENTS)?;
        txn.open_table(PAYMENTS_BY_PAYMETHOD)?;
        txn.open_table(SEQUENCES)?;
        txn.open_table(IDEMPOTENCY)?;
        txn.open_table(MESSAGES)?;
        txn.open_table(MESSAGES_PENDING)?;
        txn.open_table(DELIVERY_ATTEMPTS)?;
        txn.open_table(MYPAGE)?;
        txn.open_table(CHECKPOINTS)?;
        txn.open_table(IDEMPOTENCY_BY_TIME)?;
        txn.open_table(INTENTS)?;
        txn.open_table(INTENTS_OPEN)?;
        txn.open_table(REFUNDS_OWED)?;
        txn.open_table(META)?;
    }
    txn.commit()?;
    Ok(())
}
