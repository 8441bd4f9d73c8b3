//! Messages (listed before the notifier creates them), their deliveries and attempts, and
//! the mypage view's rows.

use super::both::Both;
use super::build::*;
use crate::serial;
use paytree::auth::KeyId;
use paytree::domain::message::{Channel, DeliveryAttempt, Message};
use paytree::domain::mypage::{Mypage, OrderView, ViewChange};
use paytree::domain::{CustomerId, MessageId, OrderId, PaymethodId, Position, Timestamp};
use paytree::store::{
    NOTIFIER, PROJECTOR, ProjectViews, RecordDelivery, RecordMessages, Rejected, Remove,
};

/// Registers method `id` for `customer` (opening its intent first).
pub async fn registered(both: &Both, id: u64, customer: &CustomerId) {
    let base = format!("reg_{id:02}");
    both.one(open(&base, "n", customer)).await.unwrap();
    both.one(register(id, customer, intent(&base, "n"), None))
        .await
        .unwrap();
}

#[tokio::test]
async fn messages_their_deliveries_and_the_views_agree_with_the_embedded_store() {
    let _serial = serial().await;
    let Some(both) = Both::new("differential notify").await else {
        return;
    };
    let (alice, bob) = (customer("alice"), customer("bob"));
    registered(&both, 1, &alice).await;
    registered(&both, 2, &alice).await;
    registered(&both, 3, &bob).await;
    registered(&both, 4, &alice).await;
    // Listed for the customers, not created yet: nothing to show.
    both.agree().await;

    let messages: Vec<Message> = both
        .events()
        .iter()
        .filter_map(Message::for_event)
        .collect();
    let record = |messages: Vec<Message>, checkpoint| RecordMessages {
        messages,
        checkpoint: both.advance(NOTIFIER, checkpoint),
    };
    // Only the second: alice's first page of one skips her first, not created yet.
    let second = record(vec![messages[1].clone()], 2);
    both.one(second.clone()).await.unwrap();
    // The same batch again, from a checkpoint that has moved since: refused, nothing written.
    assert_eq!(both.one(second).await, Err(Rejected::VersionConflict));
    both.agree().await;
    both.one(record(messages.clone(), 4)).await.unwrap();
    both.one(record(messages[..2].to_vec(), 4)).await.unwrap();
    both.agree().await;

    deliveries(&both, &messages).await;
    views(&both, &alice, &bob).await;
}

async fn deliveries(both: &Both, messages: &[Message]) {
    let attempt = |number, status_code: u16, at| DeliveryAttempt {
        number,
        channel: Channel::Webhook,
        at: Timestamp(at),
        status_code: Some(status_code),
        duration_ms: 5,
        error: (status_code != 200).then(|| format!("the receiver answered {status_code}")),
    };
    let deliver = |message: &Message, ok: bool, last: bool, attempt: Option<DeliveryAttempt>| {
        let mut message = message.clone();
        message.attempted(ok, last, Timestamp(10));
        RecordDelivery {
            message,
            attempt,
            audit: None,
        }
    };
    both.one(deliver(
        &messages[0],
        false,
        false,
        Some(attempt(1, 503, 1)),
    ))
    .await
    .unwrap();
    // A notifier restarted before that record committed numbers its attempt 1 too.
    both.one(deliver(&messages[0], true, false, Some(attempt(1, 200, 2))))
        .await
        .unwrap();
    both.one(deliver(&messages[1], false, true, Some(attempt(5, 500, 3))))
        .await
        .unwrap();
    let redelivered = RecordDelivery {
        audit: Some(paytree::auth::AuditEntry::by(
            &KeyId::generate(),
            "message.redelivered",
            "3",
        )),
        ..deliver(&messages[2], true, false, None)
    };
    both.one(redelivered).await.unwrap();
    let mut unknown = deliver(&messages[3], true, false, Some(attempt(1, 200, 4)));
    unknown.message.id = MessageId(99);
    unknown.audit = Some(audit("message.redelivered", "99"));
    assert_eq!(both.one(unknown).await, Err(Rejected::VersionConflict));
    both.agree().await;
}

/// The projector's rows, folded from the log as the projector folds them, then an order's
/// rows put and dropped.
async fn views(both: &Both, alice: &CustomerId, bob: &CustomerId) {
    let project = |views: &mut [Mypage]| {
        let mut changes = Vec::new();
        let events = both.events();
        for event in &events {
            for view in views.iter_mut() {
                view.apply(event, &mut changes);
            }
        }
        let last = events.last().map_or(0, |e| e.position.0);
        ProjectViews {
            changes,
            checkpoint: both.advance(PROJECTOR, last),
        }
    };
    let mut views = [Mypage::empty(alice.clone()), Mypage::empty(bob.clone())];
    both.one(project(&mut views)).await.unwrap();
    both.agree().await;

    let remove = Remove {
        id: PaymethodId(2),
        expected_version: 1,
    };
    both.one(remove).await.unwrap();
    both.one(project(&mut views)).await.unwrap();
    both.agree().await;

    let order = order(7, alice, 1).order;
    let view = |position| OrderView {
        order: order.clone(),
        shipment_id: None,
        position: Position(position),
    };
    let rows = ProjectViews {
        changes: vec![
            ViewChange::PutOrder(alice.clone(), Box::new(view(6))),
            ViewChange::PutOrder(bob.clone(), Box::new(view(7))),
            ViewChange::DropMessage(alice.clone(), MessageId(1)),
        ],
        checkpoint: both.advance(PROJECTOR, 7),
    };
    both.one(rows).await.unwrap();
    both.agree().await;
    let dropped = ProjectViews {
        changes: vec![
            ViewChange::DropOrder(bob.clone(), OrderId(7)),
            ViewChange::DropMethod(alice.clone(), PaymethodId(4)),
            ViewChange::DropMethod(alice.clone(), PaymethodId(40)),
        ],
        checkpoint: both.advance(PROJECTOR, 8),
    };
    both.one(dropped).await.unwrap();
    both.agree().await;

    both.redb.reset_views().unwrap();
    both.pg.reset_views().await.unwrap();
    both.agree().await;
    both.one(project(&mut [Mypage::empty(alice.clone())]))
        .await
        .unwrap();
    both.agree().await;
}
