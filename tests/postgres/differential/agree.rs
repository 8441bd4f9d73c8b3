//! Every read of both stores compared, and the event log, masking only what each store sets
//! from its own clock at commit time (`mask.rs`).

use super::both::Both;
use super::mask::*;
use crate::connect;
use paytree::domain::catalogue::Sku;
use paytree::domain::shipment::ShipmentStatus;
use paytree::domain::{
    IdempotencyKey, MessageId, OrderId, Payload, PaymentId, PaymethodId, ShipmentId, Timestamp,
};
use paytree::store::postgres::decode_payload;
use paytree::store::{
    BREAKER_OPEN_UNTIL, NOTIFIER, PROJECTOR, Page, SAGA, SHIPPING, SHIPPING_PAUSED,
};
use std::fmt::Debug;

/// Ids every comparison looks up (each kind's ids are small in these tests), and more.
const IDS: std::ops::RangeInclusive<u64> = 0..=40;
/// Page sizes every listing is read with, each followed page by page to its end.
const LIMITS: [usize; 5] = [0, 1, 2, 3, 1000];

impl Both {
    /// Asserts that every read, and the event log, is the same in both.
    pub async fn agree(&self) {
        self.agree_on_rows().await;
        self.agree_on_listings().await;
        self.agree_on_intents().await;
        self.agree_on_events().await;
    }
}

/// Asserts `redb.$read(args)` equals `pg.$read(args)`, each masked by `$mask` if given.
macro_rules! same {
    ($both:expr, $read:ident($($arg:expr),*) $(, $mask:expr)?) => {{
        let redb = $both.redb.$read($($arg),*).unwrap();
        let pg = $both.pg.$read($($arg),*).await.unwrap();
        $(let (redb, pg) = ($mask(redb), $mask(pg));)?
        assert_eq!(redb, pg, "{}{:?}", stringify!($read), ($(&$arg,)*));
    }};
}

/// Pages through `redb.$read(args, after, limit)` and `pg.$read(…)` alike (see [`paged`]).
macro_rules! paged {
    ($both:expr, $read:ident($($arg:expr),*), $mask:expr) => {
        paged(
            stringify!($read),
            |after, limit| $both.redb.$read($($arg,)* after, limit).unwrap(),
            async |after, limit| $both.pg.$read($($arg,)* after, limit).await.unwrap(),
            $mask,
        )
        .await
    };
}

impl Both {
    async fn agree_on_rows(&self) {
        for id in IDS {
            same!(self, paymethod(PaymethodId(id)));
            same!(self, payment(PaymentId(id)));
            same!(self, message(MessageId(id)));
            same!(self, attempts_of(MessageId(id)));
            same!(self, order(OrderId(id)));
            same!(self, shipment(ShipmentId(id)), masked_shipment);
            same!(self, shipment_of_order(OrderId(id)));
        }
        let mut ids: Vec<MessageId> = IDS.rev().map(MessageId).collect();
        ids.extend([MessageId(3), MessageId(1), MessageId(3)]);
        same!(self, messages_by_id(&ids));
        let none: &[MessageId] = &[];
        same!(self, messages_by_id(none));
        same!(self, pending_messages());
        for customer in &self.customers {
            same!(self, mypage(customer));
            for key in &self.keys {
                let key = IdempotencyKey::parse(key).unwrap();
                same!(self, idempotency(customer, &key), masked_record);
            }
        }
        for name in [NOTIFIER, PROJECTOR, SHIPPING, SAGA, "nobody"] {
            same!(self, checkpoint(name));
        }
        for name in [BREAKER_OPEN_UNTIL, SHIPPING_PAUSED, "nothing"] {
            same!(self, meta(name));
        }
        for sku in &self.skus {
            same!(self, product(&Sku::parse(sku).unwrap()));
        }
        same!(self, keys());
        same!(self, open_intents());
        same!(self, shipment_counts());
        same!(self, saga_steps());
    }

    async fn agree_on_listings(&self) {
        for customer in &self.customers {
            paged!(self, paymethods_of(customer), same_item);
            paged!(self, payments_of_customer(customer), same_item);
            paged!(self, messages_of(customer), same_item);
            paged!(self, orders_of(customer), same_item);
        }
        for id in 0..=12 {
            let m = PaymethodId(id);
            paged!(self, payments_of_paymethod(m), same_item);
        }
        let statuses = [
            None,
            Some(ShipmentStatus::Pending),
            Some(ShipmentStatus::Shipped),
            Some(ShipmentStatus::Cancelled),
        ];
        for s in statuses {
            paged!(self, shipments(s), masked_shipment);
        }
        paged!(self, audit(), same_item);
        for limit in LIMITS {
            let mut after: Option<Sku> = None;
            for _ in 0..50 {
                let redb = self.redb.active_products(after.as_ref(), limit).unwrap();
                let pg = self
                    .pg
                    .active_products(after.as_ref(), limit)
                    .await
                    .unwrap();
                assert_eq!(redb, pg, "active_products({after:?}, {limit})");
                match redb.0.last() {
                    Some(last) if redb.1 => after = Some(last.sku.clone()),
                    _ => break,
                }
            }
            let mut after: Option<String> = None;
            for _ in 0..50 {
                let redb = self.redb.refunds_owed(after.as_deref(), limit).unwrap();
                let pg = self.pg.refunds_owed(after.as_deref(), limit).await.unwrap();
                assert_eq!(redb, pg, "refunds_owed({after:?}, {limit})");
                match redb.last() {
                    Some(last) => after = Some(last.authorization.clone()),
                    None => break,
                }
            }
        }
    }

    /// Open intents by age, from each one's own place (their times are each store's own).
    async fn agree_on_intents(&self) {
        let (redb, pg) = self.intents().await;
        let before = [Timestamp(0), Timestamp(i64::MAX)];
        for before in before {
            for limit in LIMITS {
                let a = self.redb.open_intents_before(before, None, limit).unwrap();
                let b = self
                    .pg
                    .open_intents_before(before, None, limit)
                    .await
                    .unwrap();
                assert_eq!(
                    masked_intents(a),
                    masked_intents(b),
                    "open intents before {before:?}"
                );
            }
        }
        for (r, p) in redb.iter().zip(&pg) {
            for limit in LIMITS {
                let all = Timestamp(i64::MAX);
                let a = self.redb.open_intents_before(all, Some(r), limit).unwrap();
                let b = self
                    .pg
                    .open_intents_before(all, Some(p), limit)
                    .await
                    .unwrap();
                assert_eq!(
                    masked_intents(a),
                    masked_intents(b),
                    "open intents after {}",
                    r.base
                );
                let a = self
                    .redb
                    .open_intents_before(r.opened_at, None, limit)
                    .unwrap();
                let b = self
                    .pg
                    .open_intents_before(p.opened_at, None, limit)
                    .await
                    .unwrap();
                assert_eq!(
                    masked_intents(a),
                    masked_intents(b),
                    "open intents before {}",
                    r.base
                );
            }
        }
    }

    /// The log: the same events at the same positions, each of its aggregate's kind.
    async fn agree_on_events(&self) {
        let redb: Vec<_> = self
            .events()
            .into_iter()
            .map(|e| {
                let kind = match &e.payload {
                    Payload::Paymethod(_) => "paymethod",
                    Payload::Order(_) => "order",
                    Payload::Shipment(_) => "shipment",
                };
                (
                    e.position.0 as i64,
                    kind.to_owned(),
                    e.aggregate_id as i64,
                    e.version as i64,
                    e.customer_id.as_str().to_owned(),
                    masked_payload(e.payload),
                )
            })
            .collect();
        let client = connect(&self.url).await;
        let sql = "SELECT position, kind, aggregate, version, customer, payload
                   FROM events ORDER BY position";
        let rows = client.query(sql, &[]).await.unwrap();
        let pg: Vec<_> = rows
            .iter()
            .map(|r| {
                let payload = decode_payload(r.get(5)).unwrap();
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    masked_payload(payload),
                )
            })
            .collect();
        assert_eq!(redb, pg, "the event log");
    }
}

/// Reads a listing in pages of every size in [`LIMITS`] from the start, following
/// `next_after` to the end, and once after the last id there can be.
async fn paged<T: PartialEq + Debug>(
    what: &str,
    redb: impl Fn(u64, usize) -> Page<T>,
    pg: impl AsyncFn(u64, usize) -> Page<T>,
    mask: fn(T) -> T,
) {
    for limit in LIMITS {
        let mut after = 0;
        for _ in 0..100 {
            let (a, b) = (redb(after, limit), pg(after, limit).await);
            let next = a.next_after;
            assert_eq!(
                a.map(mask),
                b.map(mask),
                "{what} after {after}, limit {limit}"
            );
            match next {
                Some(next) if limit > 0 => after = next,
                _ => break,
            }
        }
        let (a, b) = (redb(u64::MAX, limit), pg(u64::MAX, limit).await);
        assert_eq!(
            a.map(mask),
            b.map(mask),
            "{what} after the last id, limit {limit}"
        );
    }
}
