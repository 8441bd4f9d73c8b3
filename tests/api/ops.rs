use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn health_and_readiness_answer_200_while_running() {
    let app = spawn_app().await;
    assert_eq!(
        app.health().await.json::<Value>().await.unwrap()["status"],
        "ok"
    );
    assert_eq!(app.ready().await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_as_real_histograms_with_the_breaker_state() {
    // It reads counters as absolute values: a process of its own.
    let app = spawn_process().await;
    app.register_ok("wendy", VISA).await;
    app.get_paymethod(1).await;
    app.get("/nowhere").await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"paytree_http_requests_total{method="POST",route="/paymethods",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/paymethods/{id}""#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("paytree_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("paytree_breaker_state 0"), "{text}");
    assert!(
        text.contains("paytree_store_commit_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"paytree_payment_calls_total{call="verification",outcome="approved"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    assert_problem(app.get("/nowhere").await, 404, "not-found").await;
    let r = app
        .client
        .put(app.url("/paymethods/1"))
        .send()
        .await
        .unwrap();
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(
        allow.contains("PATCH") && allow.contains("DELETE"),
        "{allow}"
    );
    assert_problem(r, 405, "method-not-allowed").await;
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_describes_every_route() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/paymethods", "post"),
        ("/paymethods", "get"),
        ("/paymethods/{id}", "get"),
        ("/paymethods/{id}", "patch"),
        ("/paymethods/{id}", "delete"),
        ("/payments", "get"),
        ("/payments/{id}", "get"),
        ("/messages", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/admin/breaker", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let register = &paths["/paymethods"]["post"]["responses"];
    for status in ["201", "400", "402", "409", "413", "415", "422", "503"] {
        assert!(
            register.get(status).is_some(),
            "POST /paymethods lacks {status}"
        );
    }
}

#[tokio::test]
async fn every_problem_type_uri_resolves_to_its_documentation() {
    let app = spawn_app().await;
    let problems = [
        app.get("/no/such/route").await,
        app.get("/paymethods").await,
        app.register("zoe", "card", "4242424242424241").await,
        app.register("zoe", "card", DECLINED).await,
        app.post_raw("/paymethods", Some("text/plain"), "{}").await,
        app.client.put(app.url("/paymethods")).send().await.unwrap(),
    ];
    let mut seen = Vec::new();
    for r in problems {
        let body: Value = r.json().await.unwrap();
        let kind = body["type"].as_str().unwrap().to_owned();
        let doc = app.get(&kind).await;
        assert_eq!(doc.status(), 200, "{kind}");
        assert_eq!(doc.headers()["content-type"], "text/plain; charset=utf-8");
        let slug = kind.strip_prefix("/problems/").unwrap();
        let text = doc.text().await.unwrap();
        assert!(text.starts_with(&format!("### {slug}\n")), "{text}");
        assert!(text.contains(&body["status"].to_string()), "{text}");
        seen.push(slug.to_owned());
    }
    assert_eq!(
        seen,
        [
            "not-found",
            "invalid-request",
            "validation-failed",
            "payment-declined",
            "unsupported-media-type",
            "method-not-allowed"
        ]
    );
    assert_problem(app.get("/problems/no-such-type").await, 404, "not-found").await;
}

#[tokio::test]
async fn every_request_has_an_id_echoed_back_on_its_access_log_line_and_its_aggregates_lines() {
    let app = spawn_process().await;
    let send = |id: Option<&str>| {
        let mut request = app.client.get(app.url("/healthz"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    let given = send(Some("trace-1.a:b_c")).await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-1.a:b_c");
    for bad in [None, Some("has space"), Some(&*"x".repeat(65))] {
        let r = send(bad).await.unwrap();
        let made = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(made.len(), 16, "{made}");
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    }
    let r = app
        .client
        .post(app.url("/paymethods"))
        .header("x-request-id", "reg-42")
        .json(&serde_json::json!({"customerId": "lena", "kind": "card", "number": VISA}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut app = app;
    assert!(app.stop().await.success());
    let log = app.log();
    let line = log
        .lines()
        .find(|l| l.contains("request{id=reg-42}") && l.contains("paytree::access"))
        .unwrap_or_else(|| panic!("no access line for reg-42 in:\n{log}"));
    assert!(line.contains("method=\"POST\""), "{line}");
    assert!(line.contains("route=/paymethods"), "{line}");
    assert!(line.contains("status=201"), "{line}");
    assert!(line.contains("ms="), "{line}");
    assert!(log.contains("request{id=trace-1.a:b_c}"), "{log}");
    // Lines written by the aggregate's actor, in a task of its own, carry the id too.
    assert!(
        log.lines()
            .any(|l| l.contains("request{id=reg-42}") && l.contains("aggregate runs a command")),
        "no line of the aggregate's with the request id in:\n{log}"
    );
    assert!(
        !log.contains("4242424242424242") && !log.contains("4242 4242"),
        "no number"
    );
    assert!(!log.contains(app.key.as_deref().unwrap()), "no key");
}
