//! Registrations, declines, changes and removals; intents opened, re-opened and resolved;
//! refunds owed and made; idempotency records kept and pruned; ids reserved; a batch of
//! accepted and rejected commands together.

use super::both::Both;
use super::build::*;
use super::nonce;
use crate::serial;
use paytree::domain::intent::{Intent, RefundOwed, Verdict};
use paytree::domain::{Payment, PaymentId, PaymethodId, Position, Timestamp};
use paytree::store::{
    BREAKER_OPEN_UNTIL, Command, OweRefund, Prune, PutMeta, RecordRefund, Rejected, Remove,
    ReserveIds, ResolveIntent,
};

#[tokio::test]
async fn payment_methods_and_their_intents_and_keys_agree_with_the_embedded_store() {
    let _serial = serial().await;
    let Some(both) = Both::new("differential paymethods").await else {
        return;
    };
    let (alice, bob) = (customer("alice"), customer("bob"));
    both.agree().await;

    let reserve = |sequence, count| ReserveIds { sequence, count };
    assert_eq!(
        both.one(reserve("paymethod", 10)).await.unwrap().first_id,
        Some(1)
    );
    assert_eq!(
        both.one(reserve("paymethod", 0)).await.unwrap().first_id,
        Some(11)
    );
    assert_eq!(
        both.one(reserve("order", 3)).await.unwrap().first_id,
        Some(1)
    );

    assert_eq!(nonce(both.one(open("reg_01", "n1", &alice)).await), "n1");
    let again = nonce(both.one(open("reg_01", "n1b", &alice)).await);
    assert_eq!(again, "n1", "an open intent is re-opened with its nonce");
    both.agree().await;

    let first = both.one(register(1, &alice, intent("reg_01", "n1"), Some("k1")));
    let first = first.await.unwrap();
    assert_eq!(first.position, Some(Position(1)));
    assert_eq!(first.payment_id, Some(PaymentId(1)));
    both.agree().await;

    // Refused in the embedded store's order: the id, then the key, then the intent.
    both.one(open("reg_02", "n2", &alice)).await.unwrap();
    let same_key = register(2, &alice, intent("reg_02", "n2"), Some("k1"));
    assert_eq!(both.one(same_key).await, Err(Rejected::KeyRecorded));
    both.one(open("reg_03", "n3", &alice)).await.unwrap();
    let taken = register(1, &alice, intent("reg_03", "wrong"), Some("k1"));
    assert_eq!(both.one(taken).await, Err(Rejected::VersionConflict));
    let stale_nonce = register(3, &alice, intent("reg_03", "wrong"), Some("k2"));
    assert_eq!(both.one(stale_nonce).await, Err(Rejected::IntentClosed));
    let never_opened = register(3, &alice, intent("reg_99", "n"), None);
    assert_eq!(both.one(never_opened).await, Err(Rejected::IntentClosed));
    both.agree().await;

    let refused = both.one(declined(&alice, intent("reg_03", "n3"), Some("k2")));
    assert_eq!(refused.await.unwrap().payment_id, Some(PaymentId(2)));
    both.one(open("reg_04", "n4", &alice)).await.unwrap();
    let same_key = declined(&alice, intent("reg_04", "n4"), Some("k2"));
    assert_eq!(both.one(same_key).await, Err(Rejected::KeyRecorded));
    let closed = declined(&alice, intent("reg_03", "n3"), Some("k3"));
    assert_eq!(both.one(closed).await, Err(Rejected::IntentClosed));
    both.one(open("reg_08", "n8", &alice)).await.unwrap();
    let no_key = declined(&alice, intent("reg_08", "n8"), None);
    assert_eq!(
        both.one(no_key).await.unwrap().payment_id,
        Some(PaymentId(3))
    );
    both.agree().await;

    let v1 = both.redb.paymethod(PaymethodId(1)).unwrap().unwrap();
    both.one(open("chg_01", "c1", &alice)).await.unwrap();
    let changed = both.one(change(&v1, 2, 1, intent("chg_01", "c1"))).await;
    assert_eq!(changed.unwrap().position, Some(Position(2)));
    both.one(open("chg_02", "c2", &alice)).await.unwrap();
    let stale = change(&v1, 3, 1, intent("chg_02", "c2"));
    assert_eq!(both.one(stale).await, Err(Rejected::VersionConflict));
    let v2 = both.redb.paymethod(PaymethodId(1)).unwrap().unwrap();
    let closed = change(&v2, 3, 2, intent("chg_01", "c1"));
    assert_eq!(both.one(closed).await, Err(Rejected::IntentClosed));
    let ghost = register(9, &alice, intent("none", "none"), None).method;
    let unknown = change(&ghost, 3, 1, intent("chg_02", "c2"));
    assert_eq!(both.one(unknown).await, Err(Rejected::VersionConflict));
    both.agree().await;

    both.one(open("reg_05", "n5", &bob)).await.unwrap();
    both.one(register(5, &bob, intent("reg_05", "n5"), Some("k1")))
        .await
        .unwrap();
    let remove = |id, expected_version| Remove {
        id: PaymethodId(id),
        expected_version,
    };
    assert_eq!(both.one(remove(1, 1)).await, Err(Rejected::VersionConflict));
    assert_eq!(
        both.one(remove(1, 2)).await.unwrap().position,
        Some(Position(4))
    );
    assert_eq!(both.one(remove(1, 3)).await, Err(Rejected::VersionConflict));
    assert_eq!(both.one(remove(7, 1)).await, Err(Rejected::VersionConflict));
    both.agree().await;

    resolve_intents(&both).await;
    refunds(&both).await;

    let put = PutMeta {
        name: BREAKER_OPEN_UNTIL,
        value: 42u64.to_be_bytes().to_vec(),
    };
    both.one(put).await.unwrap();
    let prune = |before, limit| Prune { before, limit };
    assert_eq!(both.one(prune(Timestamp(0), 10)).await.unwrap().pruned, 0);
    assert_eq!(
        both.one(prune(Timestamp(i64::MAX), 1))
            .await
            .unwrap()
            .pruned,
        1
    );
    both.agree().await;
    assert_eq!(
        both.one(prune(Timestamp(i64::MAX), 10))
            .await
            .unwrap()
            .pruned,
        2
    );
    both.agree().await;

    mixed_batch(&both).await;
}

/// The reconciler's verdicts, each on its own store's intents (their open times are each
/// store's own): a recheck, a close, an abandon that owes a refund, and verdicts on intents
/// re-opened or closed meanwhile.
async fn resolve_intents(both: &Both) {
    let resolve = |intent: &Intent, opened_at: Timestamp, verdict: Verdict| {
        Command::ResolveIntent(ResolveIntent {
            intent: intent.handle(),
            opened_at,
            verdict,
        })
    };
    let (redb, pg) = both.intents().await;
    let bases: Vec<&str> = redb.iter().map(|i| i.base.as_str()).collect();
    assert_eq!(bases, ["reg_02", "reg_04", "chg_02"], "left open");
    let each = async |verdict: Verdict, i: usize, stale: bool| {
        let at = |intent: &Intent| Timestamp(intent.opened_at.0 - i64::from(stale));
        let a = resolve(&redb[i], at(&redb[i]), verdict.clone());
        let b = resolve(&pg[i], at(&pg[i]), verdict);
        both.commit_each(&[a], &[b]).await.remove(0)
    };
    assert_eq!(
        each(Verdict::Close, 0, true).await,
        Err(Rejected::IntentClosed)
    );
    each(Verdict::Recheck, 0, false).await.unwrap();
    assert_eq!(
        each(Verdict::Close, 0, false).await,
        Err(Rejected::IntentClosed),
        "re-opened by the recheck since it was looked at"
    );
    each(Verdict::Close, 1, false).await.unwrap();
    let refund = RefundOwed {
        authorization: "auth_9".into(),
        reference: "chg_02.c2".into(),
        customer_id: customer("alice"),
        paymethod_id: Some(PaymethodId(1)),
        amount: 0,
    };
    each(Verdict::Abandon(refund), 2, false).await.unwrap();
    assert_eq!(
        each(Verdict::Close, 2, false).await,
        Err(Rejected::IntentClosed),
        "gone"
    );
    both.agree().await;
    let (redb, _) = both.intents().await;
    assert_eq!(redb.len(), 1);
    assert_eq!(redb[0].checks, 1);
}

async fn refunds(both: &Both) {
    let owe = |authorization: &str| OweRefund {
        refund: RefundOwed {
            authorization: authorization.into(),
            reference: format!("ref_{authorization}"),
            customer_id: customer("bob"),
            paymethod_id: Some(PaymethodId(5)),
            amount: 100,
        },
    };
    both.one(owe("auth_3")).await.unwrap();
    both.one(owe("auth_1")).await.unwrap();
    let mut twice = owe("auth_1");
    twice.refund.amount = 7;
    both.one(twice).await.unwrap();
    both.agree().await;
    let payment = Payment::refund(
        customer("bob"),
        Some(PaymethodId(5)),
        None,
        100,
        "rf_1".into(),
    );
    let made = RecordRefund {
        authorization: "auth_1".into(),
        payment,
    };
    assert!(both.one(made).await.unwrap().payment_id.is_some());
    both.agree().await;
}

/// One batch of accepted and rejected commands: each rejected one writes nothing, and the
/// others stand.
async fn mixed_batch(both: &Both) {
    let alice = customer("alice");
    both.one(open("reg_06", "n6", &alice)).await.unwrap();
    let v1 = both.redb.paymethod(PaymethodId(5)).unwrap().unwrap();
    let batch: Vec<Command> = vec![
        open("reg_07", "n7", &alice).into(),
        register(6, &alice, intent("reg_06", "n6"), Some("k4")).into(),
        change(&v1, 4, 7, intent("reg_07", "n7")).into(),
        register(8, &alice, intent("reg_07", "n7"), Some("k4")).into(),
        Remove {
            id: PaymethodId(6),
            expected_version: 1,
        }
        .into(),
        declined(&alice, intent("reg_06", "n6"), None).into(),
        register(8, &alice, intent("reg_07", "n7"), Some("k5")).into(),
        ReserveIds {
            sequence: "paymethod",
            count: 2,
        }
        .into(),
    ];
    let outcomes = both.commit(&batch).await;
    let rejected: Vec<Option<Rejected>> = outcomes.iter().map(|o| o.clone().err()).collect();
    assert_eq!(
        rejected,
        [
            None,
            None,
            Some(Rejected::VersionConflict),
            Some(Rejected::KeyRecorded),
            None,
            Some(Rejected::IntentClosed),
            None,
            None
        ]
    );
    both.agree().await;
}
