//! Requests: unknown routes and methods, path ids, If-Match, query parameters and page sizes.

use super::*;
use crate::helpers::*;
use axum::body::Body;
use axum::http::{Method, header};
use serde_json::json;

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
