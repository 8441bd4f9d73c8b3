//! Listings long enough to page: every listing, read with every page size from the start
//! to its end, answers alike (`Both::agree` pages them all).

use super::both::Both;
use super::build::*;
use super::notify::registered;
use crate::serial;
use paytree::domain::OrderId;
use paytree::domain::intent::RefundOwed;
use paytree::domain::message::Message;
use paytree::store::{
    CancelMissingShipment, Command, CreateShipments, NOTIFIER, OweRefund, PutProduct, RecordAudit,
    RecordMessages, SHIPPING,
};

#[tokio::test]
async fn every_listing_pages_alike_at_every_page_size() {
    let _serial = serial().await;
    let Some(both) = Both::new("differential paging").await else {
        return;
    };
    let (alice, bob) = (customer("alice"), customer("bob"));
    for id in 1..=9 {
        let whose = if id % 3 == 0 { &alice } else { &bob };
        registered(&both, id, whose).await;
    }
    for n in 0..4 {
        let base = format!("dec_{n}");
        both.one(open(&base, "d", &bob)).await.unwrap();
        both.one(declined(&bob, intent(&base, "d"), None))
            .await
            .unwrap();
    }
    // Messages for every other event: the listings skip the rest.
    let messages: Vec<Message> = both
        .events()
        .iter()
        .filter(|e| e.position.0 % 2 == 1)
        .filter_map(Message::for_event)
        .collect();
    let record = RecordMessages {
        messages,
        checkpoint: both.advance(NOTIFIER, 9),
    };
    both.one(record).await.unwrap();

    for id in 1..=6 {
        let base = format!("ord_{id}");
        let whose = if id % 2 == 0 { &alice } else { &bob };
        both.one(open(&base, "o", whose)).await.unwrap();
        let placed = place(&order(id, whose, 1), intent(&base, "o"), None);
        both.one(placed).await.unwrap();
    }
    let of = |id| both.redb.order(OrderId(id)).unwrap().unwrap().order;
    let create = CreateShipments {
        orders: (1..=4).map(of).collect(),
        checkpoint: both.advance(SHIPPING, 30),
    };
    both.one(create).await.unwrap();
    both.one(CancelMissingShipment { order: of(5) })
        .await
        .unwrap();
    both.one(CancelMissingShipment { order: of(6) })
        .await
        .unwrap();

    let mut admin: Vec<Command> = Vec::new();
    for (i, sku) in ["tea", "cup", "pot", "zzz", "bowl", "jar", "lid"]
        .iter()
        .enumerate()
    {
        let product = product(sku, 1_000 + i as u64, i % 3 != 1);
        let changed = audit("product.changed", sku);
        admin.push(
            PutProduct {
                product,
                audit: changed,
            }
            .into(),
        );
        let released = audit("paymethod.released", &i.to_string());
        admin.push(RecordAudit { audit: released }.into());
        let refund = RefundOwed {
            authorization: format!("auth_{}", 7 - i),
            reference: format!("ref_{i}"),
            customer_id: bob.clone(),
            paymethod_id: None,
            amount: i as u64,
        };
        admin.push(OweRefund { refund }.into());
    }
    both.commit(&admin).await;
    // One intent a commit: a listing before an intent's open time lists those opened in
    // earlier commits (each store sets the times; within one batch they may differ).
    for i in 0..7 {
        both.one(open(&format!("int_{i}"), "x", &alice))
            .await
            .unwrap();
    }
    both.agree().await;
}
