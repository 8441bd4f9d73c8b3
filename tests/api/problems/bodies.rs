//! Bodies: not JSON, wrong types and fields, media types, size, field validation, and the
//! Idempotency-Key that goes with a registration.

use super::*;
use crate::helpers::*;
use axum::body::Body;
use axum::http::{Method, header};
use serde_json::json;

#[tokio::test]
async fn a_body_that_is_not_json_or_not_an_object_is_400_invalid_request() {
    let (router, _dir) = router().await;
    let id = registered(&router, "ann").await;
    let bodies = [
        "",
        "{",
        "{\"customerId\": \"ann\",}",
        "[1, 2]",
        "\"card\"",
        "null",
    ];
    for body in bodies {
        for r in [
            json_request(Method::POST, "/paymethods", body),
            json_request(Method::PATCH, &format!("/paymethods/{id}"), body),
        ] {
            refused(&router, r, 400, "invalid-request").await;
        }
    }
}

#[tokio::test]
async fn wrong_types_unknown_and_missing_fields_are_400_and_the_detail_repeats_no_number() {
    let (router, _dir) = router().await;
    let id = registered(&router, "ben").await;
    let registrations = [
        json!({"customerId": "ben", "kind": "card", "number": 4242424242424242u64}),
        json!({"customerId": "ben", "kind": "card", "number": VISA, "requestId": "17"}),
        json!({"customerId": "ben", "kind": "card", "number": VISA, "cvv": "123"}),
        json!({"customerId": "ben", "kind": "card"}),
        json!({"customerId": 7, "kind": "card", "number": VISA}),
    ]
    .map(|body| json_request(Method::POST, "/paymethods", body.to_string()));
    let changes = [
        json!({"number": 4242424242424242u64}),
        json!({"kind": "card", "color": "red"}),
    ]
    .map(|body| {
        json_request(
            Method::PATCH,
            &format!("/paymethods/{id}"),
            body.to_string(),
        )
    });
    for r in registrations.into_iter().chain(changes) {
        let problem = refused(&router, r, 400, "invalid-request").await;
        let text = problem.to_string();
        assert!(!text.contains("4242424242424242"), "{text}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_declared_application_json_is_415() {
    let (router, _dir) = router().await;
    let id = registered(&router, "cal").await;
    let body = json!({"customerId": "cal", "kind": "card", "number": VISA}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("text/json"),
    ] {
        for (method, uri) in [
            (Method::POST, "/paymethods".to_owned()),
            (Method::PATCH, format!("/paymethods/{id}")),
        ] {
            let mut builder = request(method, &uri);
            if let Some(ct) = content_type {
                builder = builder.header(header::CONTENT_TYPE, ct);
            }
            let r = builder.body(Body::from(body.clone())).unwrap();
            refused(&router, r, 415, "unsupported-media-type").await;
        }
    }
}

#[tokio::test]
async fn application_json_with_a_charset_parameter_is_accepted() {
    let (router, _dir) = router().await;
    let body = json!({"customerId": "cid", "kind": "card", "number": VISA}).to_string();
    let r = request(Method::POST, "/paymethods")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(send(&router, r).await.status(), 201);
}

/// The contract: "Request bodies must be `application/json` (else 415)"; axum's `Json` alone
/// would also take any `application/*+json` type.
#[tokio::test]
async fn a_structured_json_media_type_other_than_application_json_is_415() {
    let (router, _dir) = router().await;
    let body = json!({"customerId": "dee", "kind": "card", "number": VISA}).to_string();
    for content_type in ["application/vnd.api+json", "application/merge-patch+json"] {
        let r = request(Method::POST, "/paymethods")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.clone()))
            .unwrap();
        refused(&router, r, 415, "unsupported-media-type").await;
    }
}

/// A registration body padded with spaces to exactly `len` bytes.
fn padded_registration(customer: &str, len: usize) -> String {
    let body = json!({"customerId": customer, "kind": "card", "number": VISA}).to_string();
    let pad = len - body.len();
    format!("{}{}", " ".repeat(pad), body)
}

#[tokio::test]
async fn a_body_of_64_kib_is_read_and_one_byte_more_is_413_with_or_without_a_content_length() {
    let (router, _dir) = router().await;
    let limit = 64 * 1024;
    let exact = padded_registration("eve", limit);
    assert_eq!(exact.len(), limit);
    let r = send(&router, json_request(Method::POST, "/paymethods", exact)).await;
    assert_eq!(r.status(), 201, "a body of exactly 64 KiB is not too large");

    let over = padded_registration("eve", limit + 1);
    // With a Content-Length, refused before it is read.
    let r = request(Method::POST, "/paymethods")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, over.len())
        .body(Body::from(over.clone()))
        .unwrap();
    refused(&router, r, 413, "payload-too-large").await;
    // Without one, refused once more than the limit has been read.
    refused(
        &router,
        json_request(Method::POST, "/paymethods", over),
        413,
        "payload-too-large",
    )
    .await;
    let listed = send(&router, get("/paymethods?customerId=eve")).await;
    assert_eq!(
        body_json(listed).await.items().len(),
        1,
        "only the 64 KiB one"
    );
}

#[tokio::test]
async fn invalid_customer_ids_kinds_and_numbers_are_422_naming_each_field() {
    let (router, _dir) = router().await;
    let id = registered(&router, "hal").await;
    for (body, fields) in [
        (
            json!({"customerId": "", "kind": "card", "number": VISA}),
            vec!["customerId"],
        ),
        (
            json!({"customerId": "a".repeat(65), "kind": "card", "number": VISA}),
            vec!["customerId"],
        ),
        (
            json!({"customerId": "a/b", "kind": "card", "number": VISA}),
            vec!["customerId"],
        ),
        (
            json!({"customerId": "hal", "kind": "Card", "number": VISA}),
            vec!["kind"],
        ),
        (
            json!({"customerId": "hal", "kind": "card", "number": "4242424242424241"}),
            vec!["number"],
        ),
        (
            json!({"customerId": "hal", "kind": "bank", "number": "12345"}),
            vec!["number"],
        ),
        (
            json!({"customerId": "hal!", "kind": "crypto", "number": "x"}),
            vec!["customerId", "kind"],
        ),
    ] {
        let problem = refused(
            &router,
            json_request(Method::POST, "/paymethods", body.to_string()),
            422,
            "validation-failed",
        )
        .await;
        let named = failed_fields(&problem);
        for field in fields {
            assert!(named.contains(&field), "{body}: {problem}");
        }
    }
    for (body, field) in [
        (json!({}), "body"),
        (json!({"kind": "paypal"}), "kind"),
        (json!({"number": "12ab"}), "number"),
        (json!({"kind": "bank", "number": "1".repeat(21)}), "number"),
    ] {
        let problem = refused(
            &router,
            json_request(
                Method::PATCH,
                &format!("/paymethods/{id}"),
                body.to_string(),
            ),
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
}

#[tokio::test]
async fn an_idempotency_key_of_1_to_255_visible_ascii_characters_is_taken_and_others_are_400() {
    let (router, _dir) = router().await;
    let body = json!({"customerId": "lou", "kind": "card", "number": VISA}).to_string();
    let with_key = |key: &[u8]| {
        request(Method::POST, "/paymethods")
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    for key in [
        b"".to_vec(),
        vec![b'k'; 256],
        b"has space".to_vec(),
        b"tab\there".to_vec(),
        "clé".as_bytes().to_vec(),
    ] {
        refused(&router, with_key(&key), 400, "invalid-request").await;
    }
    for key in [vec![b'k'; 255], b"!".to_vec(), b"order-5:~".to_vec()] {
        assert_eq!(send(&router, with_key(&key)).await.status(), 201);
    }
}
