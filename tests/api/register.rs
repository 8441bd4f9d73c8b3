use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_verified_card_is_registered_with_location_position_and_masked_fields_only() {
    let app = spawn_app().await;
    let body = json!({"customerId": "alice", "kind": "card", "number": VISA, "requestId": 17});
    let r = app.post_json("/paymethods", &body).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let position = position(&r);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let m: Value = r.json().await.unwrap();
    assert_eq!(location, format!("/paymethods/{}", m["id"]));
    assert!(position >= 1);
    assert_eq!(m["customerId"], "alice");
    assert_eq!(m["kind"], "card");
    assert_eq!(m["brand"], "visa");
    assert_eq!(m["last4"], "4242");
    assert_eq!(m["maskedNumber"], "**** **** **** 4242");
    assert_eq!(m["requestId"], 17);
    assert_eq!(m["status"], "active");
    assert_eq!(m["version"], 1);
    assert!(m["createdAt"].as_str().unwrap().ends_with('Z'));
    // The stored method and its verification payment can be read back.
    let stored: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(stored, m);
    let payment: Value = app
        .payment(&m["verificationPaymentId"])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payment["status"], "approved");
    assert_eq!(payment["purpose"], "verification");
    assert_eq!(payment["paymethodId"], m["id"]);
    assert_eq!(payment["requestId"], 17);
    assert!(
        payment["providerReference"]
            .as_str()
            .unwrap()
            .starts_with("auth_")
    );
}

#[tokio::test]
async fn bank_accounts_and_other_brands_are_registered_with_their_masks() {
    let app = spawn_app().await;
    let bank = app.register("bob", "bank", BANK).await;
    assert_eq!(bank.status(), 201);
    let bank: Value = bank.json().await.unwrap();
    assert_eq!(bank["brand"], Value::Null);
    assert_eq!(bank["maskedNumber"], "******6789");
    // 17.0 is an integer to JSON Schema, so it is accepted as one.
    let body = json!({"customerId": "bob", "kind": "card", "number": VISA, "requestId": 17.0});
    let r = app.post_json("/paymethods", &body).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["requestId"], 17);
    assert_eq!(
        app.register_ok("bob", MASTERCARD).await["brand"],
        "mastercard"
    );
    assert_eq!(
        app.register_ok("bob", "3782 822463 10005").await["brand"],
        "amex"
    );
}

#[tokio::test]
async fn a_declined_verification_is_402_registers_nothing_and_keeps_the_declined_record() {
    let app = spawn_app().await;
    let r = app.register("carol", "card", DECLINED).await;
    let problem = assert_problem(r, 402, "payment-declined").await;
    assert_eq!(app.list("carol").await["items"], json!([]));
    let payments = app.payments_of("carol").await;
    let items = payments["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "declined");
    assert_eq!(items[0]["paymethodId"], Value::Null);
    assert_eq!(items[0]["id"], problem["paymentId"]);
}

#[tokio::test]
async fn malformed_json_wrong_types_unknown_and_missing_fields_are_400_and_store_nothing() {
    let app = spawn_app().await;
    let cases = [
        r#"{"customerId": "dave", "kind": "card", "number": "#.to_owned(),
        r#"[1, 2, 3]"#.to_owned(),
        r#"{"customerId": "dave", "kind": "card", "number": 4242424242424242}"#.to_owned(),
        r#"{"customerId": "dave", "kind": "card", "number": "4242424242424242", "requestId": "17"}"#.to_owned(),
        r#"{"customerId": "dave", "kind": "card", "number": "4242424242424242", "cvv": "123"}"#.to_owned(),
        r#"{"customerId": "dave", "kind": "card"}"#.to_owned(),
        r#"{"kind": "card", "number": "4242424242424242"}"#.to_owned(),
        r#"{"customerId": "dave", "kind": "card", "number": "4242424242424242", "requestId": 1.5}"#.to_owned(),
        r#"{"customerId": "dave", "kind": "card", "number": "4242424242424242", "requestId": 9223372036854775808}"#.to_owned(),
    ];
    for body in cases {
        let r = app
            .post_raw("/paymethods", Some("application/json"), body.clone())
            .await;
        let problem = assert_problem(r, 400, "invalid-request").await;
        assert!(problem.get("errors").is_none(), "{body}: {problem}");
    }
    assert_eq!(app.list("dave").await["items"], json!([]));
    assert_eq!(app.payments_of("dave").await["items"], json!([]));
}

#[tokio::test]
async fn every_validation_error_is_422_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"customerId": "erin", "kind": "card", "number": "4242424242424241"}),
            "number",
            "fails the Luhn check",
        ),
        (
            json!({"customerId": "erin", "kind": "card", "number": "42424242424"}),
            "number",
            "12 to 19 digits",
        ),
        (
            json!({"customerId": "erin", "kind": "card", "number": "4242 4242 4242 4242 4242"}),
            "number",
            "12 to 19 digits",
        ),
        (
            json!({"customerId": "erin", "kind": "card", "number": "4242-abcd-4242-4242"}),
            "number",
            "only digits",
        ),
        (
            json!({"customerId": "erin", "kind": "bank", "number": "12345"}),
            "number",
            "6 to 20 digits",
        ),
        (
            json!({"customerId": "erin", "kind": "bank", "number": "1".repeat(21)}),
            "number",
            "6 to 20 digits",
        ),
        (
            json!({"customerId": "", "kind": "card", "number": VISA}),
            "customerId",
            "1 to 64",
        ),
        (
            json!({"customerId": "x".repeat(65), "kind": "card", "number": VISA}),
            "customerId",
            "1 to 64",
        ),
        (
            json!({"customerId": "erin!", "kind": "card", "number": VISA}),
            "customerId",
            "may contain only",
        ),
        (
            json!({"customerId": "erin", "kind": "paypal", "number": VISA}),
            "kind",
            "card",
        ),
        (
            json!({"customerId": "erin", "kind": "card", "number": VISA, "requestId": 0}),
            "requestId",
            "positive",
        ),
        (
            json!({"customerId": "erin", "kind": "card", "number": VISA, "requestId": -5}),
            "requestId",
            "positive",
        ),
    ];
    for (body, field, message) in cases {
        let problem = assert_problem(
            app.post_json("/paymethods", &body).await,
            422,
            "validation-failed",
        )
        .await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["message"].as_str().unwrap().contains(message)),
            "{body}: {problem}"
        );
    }
    assert_eq!(app.list("erin").await["items"], json!([]));
    assert_eq!(app.payments_of("erin").await["items"], json!([]));
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_and_bodies_that_are_not_json_are_415() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"customerId": "f", "kind": "card", "number": "{VISA}", "pad": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    assert_problem(
        app.post_raw("/paymethods", Some("application/json"), big.clone())
            .await,
        413,
        "payload-too-large",
    )
    .await;
    // Without a Content-Length (chunked), the limit still holds.
    let status = chunked_post(&app, "/paymethods", big.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let body = json!({"customerId": "f", "kind": "card", "number": VISA}).to_string();
    assert_problem(
        app.post_raw("/paymethods", Some("text/plain"), body.clone())
            .await,
        415,
        "unsupported-media-type",
    )
    .await;
    assert_problem(
        app.post_raw("/paymethods", None, body).await,
        415,
        "unsupported-media-type",
    )
    .await;
    assert_eq!(app.list("f").await["items"], json!([]));
}

/// Sends `body` with `Transfer-Encoding: chunked` over a raw connection; returns the status line.
async fn chunked_post(app: &TestApp, path: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let key = app.key.as_deref().unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8192) {
        // The server may answer and close before the whole body is sent.
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_idempotency_key_that_is_empty_too_long_or_not_visible_ascii_is_400() {
    let app = spawn_app().await;
    let body = json!({"customerId": "gail", "kind": "card", "number": VISA});
    for key in ["", &"k".repeat(256), "has space"] {
        assert_problem(
            app.register_with_key(key, &body).await,
            400,
            "invalid-request",
        )
        .await;
    }
    assert_eq!(app.register_with_key("k-1", &body).await.status(), 201);
    assert_eq!(app.list("gail").await.items().len(), 1);
}

#[tokio::test]
async fn registration_is_503_with_retry_after_and_stores_nothing_when_the_payment_system_is_unreachable()
 {
    let provider = spawn_provider().await;
    let app = spawn_app_with(&["--provider", &provider.address.clone()]).await;
    assert_eq!(app.register("hank", "card", VISA).await.status(), 201);
    provider.kill().await;
    let r = app.register("hank", "card", MASTERCARD).await;
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_problem(r, 503, "payment-unavailable").await;
    let items = app.list("hank").await["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "only the first registration is stored");
    assert_eq!(app.payments_of("hank").await.items().len(), 1);
}

#[tokio::test]
async fn a_customer_id_of_dot_or_dot_dot_is_refused_everywhere_it_is_taken() {
    let app = spawn_app().await;
    for customer in [".", ".."] {
        let body = json!({"customerId": customer, "kind": "card", "number": VISA});
        let problem = assert_problem(
            app.post_json("/paymethods", &body).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "customerId", "{problem}");
        for listing in ["paymethods", "payments", "messages"] {
            assert_problem(
                app.get(&format!("/{listing}?customerId={customer}")).await,
                400,
                "invalid-request",
            )
            .await;
        }
    }
    // Dots inside an id, or more than two, are still the documented alphabet.
    assert_eq!(app.register_ok("a.b", VISA).await["customerId"], "a.b");
    assert_eq!(app.register_ok("...", VISA).await["customerId"], "...");
}

#[tokio::test]
async fn discover_jcb_unionpay_and_diners_cards_show_their_brand() {
    let app = spawn_app().await;
    for (number, brand) in [
        ("6011 1111 1111 1117", "discover"),
        ("3566 0020 2036 0505", "jcb"),
        ("6200 0000 0000 0005", "unionpay"),
        ("3622 720627 1667", "diners"),
    ] {
        assert_eq!(app.register_ok("yuri", number).await["brand"], brand);
    }
}
