//! Orders placed and saved, their shipments made, cancelled and shipped, and the saga's
//! steps.

use super::both::Both;
use super::build::*;
use super::notify::registered;
use crate::serial;
use paytree::domain::order::{CancelOutcome, OrderChange, OrderStatus, SagaStep, StoredOrder};
use paytree::domain::shipment::{Dispatch, ShipDecision, ShipmentChange};
use paytree::domain::{OrderId, Payment, PaymentId, ShipmentId, Timestamp};
use paytree::store::{
    CancelMissingShipment, CreateShipments, FinishSagaStep, PlanSagaSteps, Rejected, SAGA,
    SHIPPING, SaveOrder, SaveShipment,
};

#[tokio::test]
async fn orders_shipments_and_the_saga_agree_with_the_embedded_store() {
    let _serial = serial().await;
    let Some(both) = Both::new("differential orders").await else {
        return;
    };
    let (alice, bob) = (customer("alice"), customer("bob"));
    registered(&both, 1, &alice).await;
    registered(&both, 2, &bob).await;

    let (one, two, three) = (order(1, &alice, 1), order(2, &alice, 1), order(3, &bob, 2));
    both.one(open("ord_1", "o1", &alice)).await.unwrap();
    let placed = both
        .one(place(&one, intent("ord_1", "o1"), Some("k1")))
        .await;
    assert_eq!(placed.unwrap().payment_id, Some(PaymentId(3)));
    both.one(open("ord_2", "o2", &alice)).await.unwrap();
    let taken = place(&one, intent("ord_2", "o2"), Some("k2"));
    assert_eq!(both.one(taken).await, Err(Rejected::VersionConflict));
    let same_key = place(&two, intent("ord_2", "o2"), Some("k1"));
    assert_eq!(both.one(same_key).await, Err(Rejected::KeyRecorded));
    let closed = place(&two, intent("ord_1", "o1"), None);
    assert_eq!(both.one(closed).await, Err(Rejected::IntentClosed));
    both.one(place(&two, intent("ord_2", "o2"), None))
        .await
        .unwrap();
    both.one(open("ord_3", "o3", &bob)).await.unwrap();
    both.one(place(&three, intent("ord_3", "o3"), Some("k1")))
        .await
        .unwrap();
    both.agree().await;

    let stored = |id| both.redb.order(OrderId(id)).unwrap().unwrap();
    let asked = both.one(cancel(&stored(1), 1)).await.unwrap();
    assert_eq!((asked.position.is_some(), asked.payment_id), (true, None));
    assert_eq!(
        both.one(cancel(&stored(1), 1)).await,
        Err(Rejected::VersionConflict)
    );
    let ghost = StoredOrder {
        order: order(9, &alice, 1).order,
        ..stored(1)
    };
    assert_eq!(
        both.one(cancel(&ghost, 1)).await,
        Err(Rejected::VersionConflict)
    );
    both.agree().await;

    shipments(&both).await;
    refund(&both, &stored(1)).await;
    saga(&both).await;
}

async fn shipments(both: &Both) {
    let of = |id| both.redb.order(OrderId(id)).unwrap().unwrap().order;
    let create = CreateShipments {
        orders: vec![of(2), of(3), of(2)],
        checkpoint: both.advance(SHIPPING, 9),
    };
    both.one(create).await.unwrap();
    both.agree().await;
    let missing = |id| CancelMissingShipment { order: of(id) };
    assert!(both.one(missing(1)).await.unwrap().position.is_some());
    assert_eq!(both.one(missing(2)).await, Err(Rejected::VersionConflict));
    assert_eq!(both.one(missing(1)).await, Err(Rejected::VersionConflict));
    both.agree().await;

    let pending = both.redb.shipment(ShipmentId(1)).unwrap().unwrap();
    let dispatch = Dispatch::check("CJ".into(), "1234".into()).unwrap();
    let ShipDecision::Ship(shipped) = pending.ship(dispatch, Timestamp(3_000)) else {
        panic!("a pending shipment ships");
    };
    let save = |expected_version| SaveShipment {
        shipment: (*shipped).clone(),
        expected_version,
        change: ShipmentChange::Shipped,
    };
    assert!(both.one(save(1)).await.unwrap().position.is_some());
    assert_eq!(both.one(save(1)).await, Err(Rejected::VersionConflict));
    let mut ghost = save(2);
    ghost.shipment.id = ShipmentId(30);
    assert_eq!(both.one(ghost).await, Err(Rejected::VersionConflict));
    both.agree().await;
}

/// The cancelled order refunded (with its refund's record), then a bookkeeping save.
async fn refund(both: &Both, cancelling: &StoredOrder) {
    let o = &cancelling.order;
    let refunded = o.next(Timestamp(4_000), |o| {
        o.status = OrderStatus::Cancelled;
        if let Some(c) = o.cancellation.as_mut() {
            c.outcome = Some(CancelOutcome::Refunded);
        }
    });
    let payment = Payment::refund(
        o.customer_id.clone(),
        Some(o.paymethod_id),
        None,
        o.total,
        "rf_o1".into(),
    );
    let save = SaveOrder {
        order: StoredOrder {
            order: refunded,
            ..cancelling.clone()
        },
        expected_version: 2,
        change: Some(OrderChange::Cancelled { refunded: o.total }),
        refund: Some(payment),
    };
    let saved = both.one(save).await.unwrap();
    assert!(saved.payment_id.is_some() && saved.position.is_some());
    let mut stored = both.redb.order(OrderId(1)).unwrap().unwrap();
    if let Some(c) = stored.order.cancellation.as_mut() {
        c.refund_attempts = 2;
        c.last_error = Some("timeout".into());
    }
    let bookkeeping = SaveOrder {
        order: stored,
        expected_version: 3,
        change: None,
        refund: None,
    };
    assert_eq!(both.one(bookkeeping).await.unwrap(), Default::default());
    both.agree().await;
}

async fn saga(both: &Both) {
    let plan = PlanSagaSteps {
        steps: vec![
            (OrderId(3), SagaStep::MarkShipped),
            (OrderId(1), SagaStep::Refund),
            (OrderId(1), SagaStep::CancelShipment),
            (OrderId(1), SagaStep::Refund),
        ],
        checkpoint: both.advance(SAGA, 12),
    };
    both.one(plan).await.unwrap();
    both.agree().await;
    let finish = |order, step| FinishSagaStep {
        order: OrderId(order),
        step,
    };
    both.one(finish(1, SagaStep::CancelShipment)).await.unwrap();
    both.one(finish(2, SagaStep::Refund)).await.unwrap();
    both.agree().await;
}
