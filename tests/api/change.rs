use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_number_is_verified_then_stored_as_the_next_version_with_its_payment() {
    let app = spawn_app().await;
    let id = app.register_ok("ivy", VISA).await.id();
    let r = app.change(id, &json!({"number": MASTERCARD}), None).await;
    assert_eq!(r.status(), 200);
    let position = position(&r);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["version"], 2);
    assert_eq!(m["brand"], "mastercard");
    assert_eq!(m["maskedNumber"], "**** **** **** 4444");
    assert!(position >= 2);
    assert_eq!(app.paymethod(id).await, m);
    let payments = app.payments_of_method(id).await;
    assert_eq!(payments.items().len(), 2);
    assert_eq!(payments["items"][1]["id"], m["verificationPaymentId"]);
}

#[tokio::test]
async fn a_change_of_kind_with_its_number_turns_a_card_into_a_bank_account() {
    let app = spawn_app().await;
    let id = app.register_ok("jack", VISA).await.id();
    let r = app
        .change(id, &json!({"kind": "bank", "number": BANK}), Some("\"1\""))
        .await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(
        (
            m["kind"].as_str(),
            m["brand"].clone(),
            m["version"].as_u64()
        ),
        (Some("bank"), Value::Null, Some(2))
    );
}

#[tokio::test]
async fn a_patch_that_changes_nothing_is_200_with_the_same_version_and_no_payment() {
    let app = spawn_app().await;
    let id = app.register_ok("kate", VISA).await.id();
    for body in [
        json!({"number": "4242-4242-4242-4242"}),
        json!({"kind": "card"}),
        json!({"kind": "card", "number": VISA}),
    ] {
        let r = app.change(id, &body, None).await;
        assert_eq!(r.status(), 200, "{body}");
        assert!(r.headers().contains_key("paytree-position"));
        assert_eq!(r.json::<Value>().await.unwrap()["version"], 1);
    }
    assert_eq!(app.payments_of("kate").await.items().len(), 1);
}

#[tokio::test]
async fn a_declined_new_number_is_402_and_leaves_the_method_unchanged() {
    let app = spawn_app().await;
    let id = app.register_ok("liam", VISA).await.id();
    let before: Value = app.paymethod(id).await;
    let problem = assert_problem(
        app.change(id, &json!({"number": DECLINED}), None).await,
        402,
        "payment-declined",
    )
    .await;
    let after: Value = app.paymethod(id).await;
    assert_eq!(before, after);
    let declined: Value = app
        .payment(&problem["paymentId"])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            declined["status"].as_str(),
            declined["paymethodId"].as_u64()
        ),
        (Some("declined"), Some(id))
    );
}

#[tokio::test]
async fn if_match_with_a_stale_version_is_412_a_malformed_one_400_and_the_current_one_succeeds() {
    let app = spawn_app().await;
    let id = app.register_ok("mia", VISA).await.id();
    assert_eq!(
        app.change(id, &json!({"number": MASTERCARD}), Some("\"1\""))
            .await
            .status(),
        200
    );
    let stale = app
        .change(id, &json!({"number": VISA}), Some("\"1\""))
        .await;
    let problem = assert_problem(stale, 412, "version-mismatch").await;
    assert_eq!(problem["currentVersion"], 2);
    assert_problem(
        app.change(id, &json!({"number": VISA}), Some("\"nonsense\""))
            .await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(app.version(id).await, 2);
    let fresh = app
        .change(id, &json!({"number": VISA}), Some("\"2\""))
        .await;
    assert_eq!(fresh.status(), 200);
    assert_eq!(fresh.json::<Value>().await.unwrap()["version"], 3);
}

#[tokio::test]
async fn an_empty_patch_a_kind_change_without_a_number_and_invalid_numbers_are_422() {
    let app = spawn_app().await;
    let id = app.register_ok("noah", VISA).await.id();
    for (body, field) in [
        (json!({}), "body"),
        (json!({"kind": "bank"}), "number"),
        (json!({"kind": "crypto"}), "kind"),
        (json!({"number": "4242424242424241"}), "number"),
        (json!({"kind": "card", "number": "110-123-45678"}), "number"),
    ] {
        let problem =
            assert_problem(app.change(id, &body, None).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    assert_problem(
        app.change(id, &json!({"color": "red"}), None).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(app.version(id).await, 1);
}

#[tokio::test]
async fn patching_an_unknown_id_is_404() {
    let app = spawn_app().await;
    assert_problem(
        app.change(999_999, &json!({"number": VISA}), None).await,
        404,
        "not-found",
    )
    .await;
    let r = app
        .client
        .patch(app.url("/paymethods/abc"))
        .json(&json!({"number": VISA}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not-found").await;
}

#[tokio::test]
async fn a_malformed_number_is_422_even_when_if_match_is_stale() {
    let app = spawn_app().await;
    let id = app.register_ok("rex", VISA).await.id();
    for number in ["Z", ""] {
        let r = app
            .change(id, &json!({"number": number}), Some("\"9\""))
            .await;
        assert_problem(r, 422, "validation-failed").await;
    }
}

/// Issue 11: PATCHes that waited in the aggregate's queue longer than their callers were
/// ready to wait were answered 503, then ran anyway: changed and charged.
#[tokio::test]
async fn a_change_answered_503_after_waiting_in_the_queue_is_never_applied_or_charged() {
    let provider = spawn_provider().await;
    // Each change takes about 600 ms; the tenth would wait over 5 s, past the queue's 2 s.
    // The queue is the aggregate's on one replica (on several, the changes would conflict).
    let app = spawn_app_with(&[
        "--provider",
        &provider.address.clone(),
        "--command-queue-ms",
        "2000",
    ])
    .await
    .one_replica();
    let id = app.register_ok("queued", VISA).await.id();
    provider.set_faults(json!({"latencyMs": 600})).await;
    let sends = (0..10)
        .map(|n| {
            let app = TestApp::handle(&app);
            // Distinct numbers: every change that runs is a real change, one verification.
            let number = paytree::domain::number::with_check_digit(&format!("5555{n:011}"));
            tokio::spawn(async move {
                let r = app.change(id, &json!({"number": number}), None).await;
                r.status().as_u16()
            })
        })
        .collect::<Vec<_>>();
    let mut ok = 0;
    let mut unavailable = 0;
    for s in sends {
        match s.await.unwrap() {
            200 => ok += 1,
            503 => unavailable += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(unavailable > 0, "some waited too long ({ok} ok)");
    // A change that needs no payment call queues behind whatever is still queued, so its
    // answer comes once nothing sent before it can run any more.
    let unchanged = app.change(id, &json!({"kind": "card"}), None).await;
    assert_eq!(unchanged.status(), 200);
    assert_eq!(
        app.version(id).await,
        1 + ok,
        "only the changes answered 200 were applied"
    );
    let approved = provider.ledger().await["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "approved")
        .count() as u64;
    assert_eq!(
        approved,
        1 + ok,
        "only the registration and the 200s were charged"
    );
}
