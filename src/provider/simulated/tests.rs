use super::*;
use crate::domain::Kind;

fn body(number: &str) -> AuthorizationBody {
    AuthorizationBody {
        reference: format!("ref-{number}"),
        kind: Kind::Card,
        number: Some(number.to_owned()),
        token: None,
        amount: 0,
        currency: "KRW".into(),
    }
}

#[tokio::test]
async fn approves_tokenizes_and_declines_numbers_ending_in_0002() {
    let sim = Simulator::default();
    let ok = sim.authorize(None, body("4242424242424242")).await.unwrap();
    assert_eq!(ok.status, AuthStatus::Approved);
    assert!(ok.token.as_deref().unwrap().starts_with("tok_"));
    let no = sim.authorize(None, body("4000000000000002")).await.unwrap();
    assert_eq!(no.status, AuthStatus::Declined);
    assert_eq!(no.token, None);
    assert_eq!(sim.ledger().authorizations.len(), 2);
}

#[tokio::test]
async fn a_number_ending_in_0341_is_verified_but_every_charge_on_it_is_declined() {
    let sim = Simulator::default();
    let verified = sim.authorize(None, body("4000000000000341")).await.unwrap();
    assert_eq!(verified.status, AuthStatus::Approved);
    let charge = |token: &str, amount| AuthorizationBody {
        reference: format!("charge-{amount}"),
        kind: Kind::Card,
        number: None,
        token: Some(token.to_owned()),
        amount,
        currency: "KRW".into(),
    };
    let token = verified.token.unwrap();
    let declined = sim.authorize(None, charge(&token, 38_000)).await.unwrap();
    assert_eq!(declined.status, AuthStatus::Declined);
    assert_eq!(declined.decline_code.as_deref(), Some("card_declined"));
    let again = sim.authorize(None, charge(&token, 0)).await.unwrap();
    assert_eq!(
        again.status,
        AuthStatus::Approved,
        "a verification still passes"
    );
    let good = sim.authorize(None, body("4242424242424242")).await.unwrap();
    let paid = sim
        .authorize(None, charge(good.token.as_deref().unwrap(), 38_000))
        .await
        .unwrap();
    assert_eq!(paid.status, AuthStatus::Approved);
    let ledger = sim.ledger().authorizations;
    assert_eq!(ledger.len(), 5);
    assert!(sim.authorize(None, charge("tok_unknown", 1)).await.is_err());
    // Another instance (a restart) still knows what the tokens stand for.
    let restarted = Simulator::default();
    let declined = restarted
        .authorize(None, charge(&token, 1_000))
        .await
        .unwrap();
    assert_eq!(declined.status, AuthStatus::Declined);
    let paid = restarted
        .authorize(None, charge(good.token.as_deref().unwrap(), 1_000))
        .await
        .unwrap();
    assert_eq!(paid.status, AuthStatus::Approved);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_authorization() {
    let sim = Simulator::default();
    let a = sim
        .authorize(Some("k"), body("4242424242424242"))
        .await
        .unwrap();
    let b = sim
        .authorize(Some("k"), body("4242424242424242"))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(sim.ledger().authorizations.len(), 1);
    assert_eq!(sim.find("ref-4242424242424242"), Some(a));
}

#[tokio::test]
async fn down_fails_every_call_and_a_refund_is_made_once() {
    let sim = Simulator::new(Faults {
        down: true,
        ..Faults::default()
    });
    assert_eq!(
        sim.authorize(None, body("4242424242424242")).await,
        Err(SimError::Down)
    );
    sim.set_faults(Faults::default());
    let a = sim.authorize(None, body("4242424242424242")).await.unwrap();
    let first = sim.refund(None, &a.id, 0).await.unwrap();
    assert_eq!(
        sim.refund(None, &a.id, 0).await.unwrap().id,
        first.id,
        "a repeat is the same refund"
    );
    assert!(sim.ledger().authorizations[0].refunded);
    let declined = sim.authorize(None, body("4000000000000002")).await.unwrap();
    assert!(sim.refund(None, &declined.id, 0).await.is_err());
}

#[tokio::test]
async fn a_refund_is_one_per_key_never_two_per_charge_and_never_more_than_charged() {
    let sim = Simulator::default();
    let card = sim.authorize(None, body("4242424242424242")).await.unwrap();
    let charge = AuthorizationBody {
        reference: "order-1".into(),
        kind: Kind::Card,
        number: None,
        token: card.token,
        amount: 38_000,
        currency: "KRW".into(),
    };
    let paid = sim.authorize(Some("c1"), charge).await.unwrap();
    assert_eq!(
        sim.refund(Some("r1"), &paid.id, 38_001).await,
        Err(SimError::Invalid("a refund cannot exceed what was charged"))
    );
    sim.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    assert_eq!(
        sim.refund(Some("r1"), &paid.id, 38_000).await,
        Err(SimError::Down)
    );
    sim.set_faults(Faults::default());
    let first = sim.refund(Some("r1"), &paid.id, 38_000).await.unwrap();
    let again = sim.refund(Some("r1"), &paid.id, 38_000).await.unwrap();
    assert_eq!(first.id, again.id, "the same key is the same refund");
    assert_eq!(
        sim.refund(Some("r2"), &paid.id, 38_000).await,
        Err(SimError::AlreadyRefunded)
    );
    let ledger = sim.ledger();
    let entry = ledger
        .authorizations
        .iter()
        .find(|e| e.id == paid.id)
        .unwrap();
    assert_eq!((entry.amount, entry.refunded_amount), (38_000, 38_000));
    assert_eq!(ledger.refunds.len(), 1);
    assert_eq!(ledger.refunds[0].amount, 38_000);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_answer_still_makes_the_authorization() {
    let sim = Simulator::new(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let lost = sim.authorize(Some("k"), body("4242424242424242")).await;
    assert_eq!(lost, Err(SimError::Fault));
    let made = sim
        .find("ref-4242424242424242")
        .expect("the authorization was made");
    assert_eq!(made.status, AuthStatus::Approved);
    sim.set_faults(Faults::default());
    let again = sim.authorize(Some("k"), body("4242424242424242")).await;
    assert_eq!(again, Ok(made), "a retry with the key gets the lost answer");
}
