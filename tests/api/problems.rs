//! The problem mapping and validation at the edge, driven through `http::router` with
//! `oneshot` (no socket): every refusal is `application/problem+json` with the status and
//! the `type` that API.md (contract v1) gives it.

use crate::helpers::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::response::Response;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The router of a paytree built in this process (embedded payment system). The data dir
/// lives as long as the returned guard.
async fn router() -> (Router, tempfile::TempDir) {
    let (app, temp) = build_app(&[]).await;
    (app.router(), temp)
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

fn json_request(method: Method, uri: &str, body: impl Into<Body>) -> Request<Body> {
    request(method, uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    request(Method::GET, uri).body(Body::empty()).unwrap()
}

async fn send(router: &Router, request: Request<Body>) -> Response {
    router.clone().oneshot(request).await.unwrap()
}

async fn body_json(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Sends `request` and asserts a problem: status, content type, `type` and `status` in the
/// body. Returns the problem.
async fn refused(router: &Router, request: Request<Body>, status: u16, slug: &str) -> Value {
    let what = format!("{} {}", request.method(), request.uri());
    let response = send(router, request).await;
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    let problem = body_json(response).await;
    assert_eq!(
        problem["type"],
        format!("/problems/{slug}"),
        "{what}: {problem}"
    );
    assert_eq!(problem["status"], status, "{what}: {problem}");
    problem
}

/// Registers a card for `customer` through the router; the method's id.
async fn registered(router: &Router, customer: &str) -> u64 {
    let body = json!({"customerId": customer, "kind": "card", "number": VISA}).to_string();
    let response = send(router, json_request(Method::POST, "/paymethods", body)).await;
    assert_eq!(response.status(), 201);
    body_json(response).await.id()
}

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

/// API.md: "Request bodies must be `application/json` (else 415)". axum's `Json` also takes
/// any `application/*+json` type, so paytree registers with these.
#[tokio::test]
#[ignore = "contract disagreement: application/*+json bodies are accepted, API.md says 415"]
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
async fn an_unknown_route_is_404_and_a_known_one_with_another_method_is_405_with_allow() {
    let (router, _dir) = router().await;
    for uri in ["/nowhere", "/paymethods/1/extra", "/paymethods/1/"] {
        refused(&router, get(uri), 404, "not-found").await;
    }
    for (method, uri, allowed) in [
        (
            Method::PUT,
            "/paymethods/1",
            ["GET", "PATCH", "DELETE"].as_slice(),
        ),
        (Method::DELETE, "/paymethods", &["GET", "POST"]),
        (Method::POST, "/healthz", &["GET"]),
        (Method::GET, "/admin/messages/1/redeliver", &["POST"]),
    ] {
        let r = request(method, uri).body(Body::empty()).unwrap();
        let response = send(&router, r).await;
        let allow = response.headers()[header::ALLOW]
            .to_str()
            .unwrap()
            .to_owned();
        for m in allowed {
            assert!(allow.contains(m), "{uri}: Allow: {allow}");
        }
        assert_eq!(response.status(), 405, "{uri}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let problem = body_json(response).await;
        assert_eq!(problem["type"], "/problems/method-not-allowed", "{uri}");
    }
}

#[tokio::test]
async fn ids_in_paths_that_are_not_positive_integers_are_404() {
    let (router, _dir) = router().await;
    registered(&router, "fay").await;
    for id in [
        "0",
        "abc",
        "-1",
        "1.0",
        "1e3",
        "18446744073709551616",
        "999999",
    ] {
        for uri in [
            format!("/paymethods/{id}"),
            format!("/payments/{id}"),
            format!("/admin/messages/{id}"),
        ] {
            refused(&router, get(&uri), 404, "not-found").await;
        }
        let uri = format!("/paymethods/{id}");
        for r in [
            json_request(Method::PATCH, &uri, json!({"number": VISA}).to_string()),
            request(Method::DELETE, &uri).body(Body::empty()).unwrap(),
        ] {
            refused(&router, r, 404, "not-found").await;
        }
    }
}

/// API.md: ids are positive integers; issue 11 (item 6) reports that `/paymethods/+3` and
/// `/paymethods/03` answer as aliases of `/paymethods/3`.
#[tokio::test]
#[ignore = "contract disagreement (issue 11, item 6): a sign or leading zeros name the same method"]
async fn an_id_with_a_sign_or_leading_zeros_names_nothing() {
    let (router, _dir) = router().await;
    let id = registered(&router, "gus").await;
    assert_eq!(
        send(&router, get(&format!("/paymethods/{id}")))
            .await
            .status(),
        200
    );
    for alias in [format!("+{id}"), format!("0{id}"), format!("00{id}")] {
        refused(
            &router,
            get(&format!("/paymethods/{alias}")),
            404,
            "not-found",
        )
        .await;
    }
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
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
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
async fn an_if_match_that_names_no_version_is_400_on_change_and_removal() {
    let (router, _dir) = router().await;
    let id = registered(&router, "ida").await;
    let uri = format!("/paymethods/{id}");
    for value in [
        "nonsense",
        "\"abc\"",
        "\"1\", \"2\"",
        "W/",
        "\"-1\"",
        "\"\"",
    ] {
        let change = request(Method::PATCH, &uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, value)
            .body(Body::from(json!({"number": MASTERCARD}).to_string()))
            .unwrap();
        refused(&router, change, 400, "invalid-request").await;
        let remove = request(Method::DELETE, &uri)
            .header(header::IF_MATCH, value)
            .body(Body::empty())
            .unwrap();
        refused(&router, remove, 400, "invalid-request").await;
    }
    // Nothing was changed or removed meanwhile.
    let stored = body_json(send(&router, get(&uri)).await).await;
    assert_eq!(stored["version"], 1);
}

#[tokio::test]
async fn missing_or_malformed_query_parameters_are_400() {
    let (router, _dir) = router().await;
    for uri in [
        "/paymethods",
        "/paymethods?customerId=",
        "/paymethods?customerId=a%20b",
        "/paymethods?customerId=x&after=-1",
        "/paymethods?customerId=x&after=abc",
        "/paymethods?customerId=x&after=9223372036854775808",
        "/paymethods?customerId=x&customerId=y",
        "/payments",
        "/payments?paymethodId=0",
        "/payments?paymethodId=abc",
        "/payments?customerId=bad%20id",
        "/messages",
        "/messages?customerId=",
        "/messages?customerId=x&after=-1",
        "/mypages/jo?minPosition=abc",
        "/mypages/jo?minPosition=-1",
        "/mypages/not%20valid",
    ] {
        refused(&router, get(uri), 400, "invalid-request").await;
    }
}

#[tokio::test]
async fn page_sizes_from_1_to_200_are_taken_and_others_are_400() {
    let (router, _dir) = router().await;
    let id = registered(&router, "kay").await;
    for listing in [
        "/paymethods?customerId=kay".to_owned(),
        "/payments?customerId=kay".to_owned(),
        format!("/payments?paymethodId={id}"),
        "/messages?customerId=kay".to_owned(),
    ] {
        for limit in ["0", "201", "4294967296", "-1", "ten", ""] {
            let uri = format!("{listing}&limit={limit}");
            refused(&router, get(&uri), 400, "invalid-request").await;
        }
        for limit in ["1", "200"] {
            let uri = format!("{listing}&limit={limit}");
            assert_eq!(send(&router, get(&uri)).await.status(), 200, "{uri}");
        }
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
