//! Converting a data directory of an earlier layout when it opens, in one write transaction
//! (all of it converts, or nothing does and the directory stays as it was).
//!
//! Layout 2 → 3: payment records, intents and messages gained the order they
//! concern (and a message may be about no payment method). Their old records are decoded as
//! the shapes below, which are exactly layout 2's, and written again in the new shape.

use super::StoreError;
use super::codec::{decode, encode};
use super::tables::*;
use crate::domain::intent::Intent;
use crate::domain::message::{Message, MessageStatus};
use crate::domain::{
    CustomerId, MessageId, Payment, PaymentId, PaymentPurpose, PaymentStatus, PaymethodId,
    Position, Timestamp,
};
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct PaymentV2 {
    id: PaymentId,
    paymethod_id: Option<PaymethodId>,
    customer_id: CustomerId,
    request_id: Option<u64>,
    purpose: PaymentPurpose,
    amount: u64,
    currency: String,
    status: PaymentStatus,
    provider_reference: String,
    decline_code: Option<String>,
    created_at: Timestamp,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct IntentV2 {
    base: String,
    nonce: String,
    customer_id: CustomerId,
    paymethod_id: Option<PaymethodId>,
    opened_at: Timestamp,
    checks: u8,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct MessageV2 {
    id: MessageId,
    event_id: Position,
    customer_id: CustomerId,
    paymethod_id: PaymethodId,
    kind: String,
    text: String,
    status: MessageStatus,
    attempts: u32,
    created_at: Timestamp,
    delivered_at: Option<Timestamp>,
}

fn payment(p: PaymentV2) -> Payment {
    Payment {
        id: p.id,
        paymethod_id: p.paymethod_id,
        order_id: None,
        customer_id: p.customer_id,
        request_id: p.request_id,
        purpose: p.purpose,
        amount: p.amount,
        currency: p.currency,
        status: p.status,
        provider_reference: p.provider_reference,
        decline_code: p.decline_code,
        created_at: p.created_at,
    }
}

fn intent(i: IntentV2) -> Intent {
    Intent {
        base: i.base,
        nonce: i.nonce,
        customer_id: i.customer_id,
        paymethod_id: i.paymethod_id,
        amount: 0,
        order_id: None,
        opened_at: i.opened_at,
        checks: i.checks,
    }
}

fn message(m: MessageV2) -> Message {
    Message {
        id: m.id,
        event_id: m.event_id,
        customer_id: m.customer_id,
        paymethod_id: Some(m.paymethod_id),
        order_id: None,
        kind: m.kind,
        text: m.text,
        status: m.status,
        attempts: m.attempts,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
    }
}

/// Rewrites every row of a table keyed by id from `Old` to `New`.
fn convert_by_id<Old: DeserializeOwned, New: Serialize>(
    txn: &WriteTransaction,
    table: TableDefinition<u64, &[u8]>,
    f: impl Fn(Old) -> New,
) -> Result<usize, StoreError> {
    let mut table = txn.open_table(table)?;
    let mut rows = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        rows.push((k.value(), encode(&f(decode(v.value())?))?));
    }
    for (k, v) in &rows {
        table.insert(*k, v.as_slice())?;
    }
    Ok(rows.len())
}

/// The same, for a table keyed by name.
fn convert_by_name<Old: DeserializeOwned, New: Serialize>(
    txn: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    f: impl Fn(Old) -> New,
) -> Result<usize, StoreError> {
    let mut table = txn.open_table(table)?;
    let mut rows = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        rows.push((k.value().to_owned(), encode(&f(decode(v.value())?))?));
    }
    for (k, v) in &rows {
        table.insert(k.as_str(), v.as_slice())?;
    }
    Ok(rows.len())
}

pub(super) fn from_layout_2(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let payments = convert_by_id(&txn, PAYMENTS, payment)?;
    let intents = convert_by_name(&txn, INTENTS, intent)?;
    let messages = convert_by_id(&txn, MESSAGES, message)?;
    {
        // The mypage view's message rows hold messages too.
        let mut view = txn.open_table(MYPAGE)?;
        let mut rows = Vec::new();
        for row in view.iter()? {
            let (k, v) = row?;
            let (customer, what, id) = k.value();
            if what == VIEW_MESSAGE {
                let m = message(decode::<MessageV2>(v.value())?);
                rows.push((customer.to_owned(), id, encode(&m)?));
            }
        }
        for (customer, id, bytes) in rows {
            view.insert((customer.as_str(), VIEW_MESSAGE, id), bytes.as_slice())?;
        }
        txn.open_table(META)?
            .insert(LAYOUT, [LAYOUT_VERSION].as_slice())?;
    }
    txn.commit()?;
    tracing::info!(
        payments,
        intents,
        messages,
        "data directory converted from layout 2 to layout 3"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Redb;

    #[test]
    fn a_layout_2_directory_is_converted_when_it_opens_and_keeps_every_record() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("old.redb");
        let alice = CustomerId::parse("alice").unwrap();
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let payment = PaymentV2 {
                    id: PaymentId(3),
                    paymethod_id: Some(PaymethodId(7)),
                    customer_id: alice.clone(),
                    request_id: Some(1),
                    purpose: PaymentPurpose::Verification,
                    amount: 0,
                    currency: "KRW".into(),
                    status: PaymentStatus::Approved,
                    provider_reference: "auth_1".into(),
                    decline_code: None,
                    created_at: Timestamp(5),
                };
                txn.open_table(PAYMENTS)
                    .unwrap()
                    .insert(3, encode(&payment).unwrap().as_slice())
                    .unwrap();
                let intent = IntentV2 {
                    base: "reg_a".into(),
                    nonce: "n".into(),
                    customer_id: alice.clone(),
                    paymethod_id: None,
                    opened_at: Timestamp(6),
                    checks: 1,
                };
                txn.open_table(INTENTS)
                    .unwrap()
                    .insert("reg_a", encode(&intent).unwrap().as_slice())
                    .unwrap();
                txn.open_table(INTENTS_OPEN)
                    .unwrap()
                    .insert((6, "reg_a"), ())
                    .unwrap();
                let message = MessageV2 {
                    id: MessageId(4),
                    event_id: Position(4),
                    customer_id: alice.clone(),
                    paymethod_id: PaymethodId(7),
                    kind: "PaymentMethodRegistered".into(),
                    text: "Your card ending 4242 was registered.".into(),
                    status: MessageStatus::Delivered,
                    attempts: 1,
                    created_at: Timestamp(7),
                    delivered_at: Some(Timestamp(8)),
                };
                let bytes = encode(&message).unwrap();
                txn.open_table(MESSAGES)
                    .unwrap()
                    .insert(4, bytes.as_slice())
                    .unwrap();
                txn.open_table(MYPAGE)
                    .unwrap()
                    .insert(("alice", VIEW_MESSAGE, 4), bytes.as_slice())
                    .unwrap();
                txn.open_table(META)
                    .unwrap()
                    .insert(LAYOUT, [2u8].as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Redb::open(&path).unwrap();
        let payment = store.payment(PaymentId(3)).unwrap().unwrap();
        assert_eq!(payment.paymethod_id, Some(PaymethodId(7)));
        assert_eq!(payment.order_id, None);
        assert_eq!(payment.provider_reference, "auth_1");
        let message = store.message(MessageId(4)).unwrap().unwrap();
        assert_eq!(message.paymethod_id, Some(PaymethodId(7)));
        assert_eq!(message.delivered_at, Some(Timestamp(8)));
        let view = store.mypage(&alice).unwrap().unwrap();
        assert_eq!(view.recent, vec![message]);
        let intents = store
            .open_intents_before(Timestamp(i64::MAX), None, 10)
            .unwrap();
        assert_eq!((intents[0].amount, intents[0].checks), (0, 1));
        drop(store);
        // Converted once: it opens again as layout 3.
        assert!(Redb::open(&path).is_ok());
    }
}
