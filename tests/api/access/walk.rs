//! Every operation of the OpenAPI document, with every role and every way a key can be
//! wrong, answers as the contract's role table says. The expectations are written here from
//! the contract, not read from paytree's access table, so the two are checked against each
//! other; an operation this test cannot place fails it.

use super::*;
use serde_json::{Value, json};

/// Who the contract lets call a route.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anyone,
    /// `admin`, `service`, and a `customer` key for its own customer.
    CustomerData,
    Admin,
    /// `admin` and `metrics`.
    Metrics,
    /// Every role.
    AnyKey,
    /// `admin` and `seller`: the catalogue and shipments.
    Catalogue,
    /// `admin`, `service`, `seller`, and a `customer` key for its own customer.
    OrdersRead,
}

fn who(method: &str, path: &str) -> Who {
    match (method, path) {
        ("GET", "/healthz" | "/readyz" | "/openapi.json") => Who::Anyone,
        ("GET", "/metrics") => Who::Metrics,
        ("GET", "/products" | "/products/{sku}" | "/me") => Who::AnyKey,
        ("PUT", "/admin/products/{sku}") => Who::Catalogue,
        (_, p) if p.starts_with("/admin/") => Who::Admin,
        ("GET", "/orders" | "/orders/{id}") => Who::OrdersRead,
        ("POST", "/orders" | "/orders/{id}/cancel") => Who::CustomerData,
        (_, "/shipments" | "/shipments/{id}" | "/shipments/{id}/ship") => Who::Catalogue,
        (
            _,
            "/paymethods"
            | "/paymethods/{id}"
            | "/payments"
            | "/payments/{id}"
            | "/messages"
            | "/mypages/{customerId}",
        ) => Who::CustomerData,
        _ => panic!("{method} {path} is not in the contract's role table: add it to this test"),
    }
}

fn allowed(who: Who, role: &str) -> bool {
    match who {
        Who::Anyone => true,
        Who::CustomerData => matches!(role, "admin" | "service" | "customer"),
        Who::Admin => role == "admin",
        Who::Metrics => matches!(role, "admin" | "metrics"),
        Who::AnyKey => true,
        Who::Catalogue => matches!(role, "admin" | "seller"),
        Who::OrdersRead => matches!(role, "admin" | "service" | "seller" | "customer"),
    }
}

/// What a request of `method path` is made of: its URI and body, on fresh objects where the
/// request would use one up (a removal, a revocation), and the status it gets when allowed.
async fn request_for(admin: &TestApp, method: &str, path: &str) -> (String, Option<Value>, u16) {
    let card = || async { admin.register_ok(ALICE, VISA).await.id() };
    match (method, path) {
        ("POST", "/paymethods") => (
            path.into(),
            Some(json!({"customerId": ALICE, "kind": "card", "number": VISA})),
            201,
        ),
        ("GET", "/paymethods") => (format!("{path}?customerId={ALICE}"), None, 200),
        ("GET", "/paymethods/{id}") => (format!("/paymethods/{}", card().await), None, 200),
        ("PATCH", "/paymethods/{id}") => (
            format!("/paymethods/{}", card().await),
            Some(json!({"number": MASTERCARD})),
            200,
        ),
        ("DELETE", "/paymethods/{id}") => (format!("/paymethods/{}", card().await), None, 204),
        ("GET", "/payments") => (format!("{path}?customerId={ALICE}"), None, 200),
        ("GET", "/payments/{id}") => {
            let method = admin.register_ok(ALICE, VISA).await;
            let payment = method["verificationPaymentId"].as_u64().unwrap();
            (format!("/payments/{payment}"), None, 200)
        }
        ("GET", "/messages") => (format!("{path}?customerId={ALICE}"), None, 200),
        ("GET", "/mypages/{customerId}") => (format!("/mypages/{ALICE}"), None, 200),
        ("GET", "/admin/messages/{id}") => {
            let message = wait_for_messages(admin, ALICE, 1).await[0].id();
            (format!("/admin/messages/{message}"), None, 200)
        }
        // No webhook is configured: the admin gets past the check to the handler's 409.
        ("POST", "/admin/messages/{id}/redeliver") => {
            let message = wait_for_messages(admin, ALICE, 1).await[0].id();
            (format!("/admin/messages/{message}/redeliver"), None, 409)
        }
        ("GET", "/admin/breaker") => (path.into(), None, 200),
        ("POST", "/admin/paymethods/{id}/release") => (
            format!("/admin/paymethods/{}/release", card().await),
            None,
            200,
        ),
        ("POST", "/admin/orders/{id}/release") => (
            format!("/admin/orders/{}/release", placed(admin).await),
            None,
            200,
        ),
        ("POST", "/admin/shipments/{id}/release") => (
            format!("/admin/shipments/{}/release", shipment(admin).await),
            None,
            200,
        ),
        ("POST", "/admin/keys") => (path.into(), Some(json!({"role": "metrics"})), 201),
        ("GET", "/admin/keys") => (path.into(), None, 200),
        ("DELETE", "/admin/keys/{id}") => {
            let key = admin.make_key(&json!({"role": "metrics"})).await;
            (
                format!("/admin/keys/{}", key["id"].as_str().unwrap()),
                None,
                204,
            )
        }
        ("GET", "/admin/audit") => (path.into(), None, 200),
        // With PostgreSQL (replicas) there is no store file to copy.
        ("POST", "/admin/backup") if replicas::count() > 1 => (path.into(), None, 501),
        ("POST", "/admin/backup") => (path.into(), None, 200),
        ("GET", "/products" | "/me") => (path.into(), None, 200),
        ("GET", "/products/{sku}") => {
            let r = admin
                .client
                .put(admin.url("/admin/products/tee-walk"))
                .json(&json!({"name": "Tee", "unitPrice": 19000}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            ("/products/tee-walk".into(), None, 200)
        }
        // A product made anew each time (201), so every allowed role gets the same answer.
        ("PUT", "/admin/products/{sku}") => (
            format!("/admin/products/tee-{}", rand_sku()),
            Some(json!({"name": "Tee", "unitPrice": 19000})),
            201,
        ),
        ("POST", "/orders") => {
            let card = admin.shopper(ALICE).await;
            (path.into(), Some(order_body(ALICE, card, &[(TEE, 1)])), 201)
        }
        ("GET", "/orders") => (format!("{path}?customerId={ALICE}"), None, 200),
        ("GET", "/orders/{id}") => (format!("/orders/{}", placed(admin).await), None, 200),
        ("POST", "/orders/{id}/cancel") => {
            (format!("/orders/{}/cancel", placed(admin).await), None, 202)
        }
        ("GET", "/shipments") => (path.into(), None, 200),
        ("GET", "/shipments/{id}") => (format!("/shipments/{}", shipment(admin).await), None, 200),
        ("POST", "/shipments/{id}/ship") => (
            format!("/shipments/{}/ship", shipment(admin).await),
            Some(json!({"carrier": "CJ", "trackingNumber": "1"})),
            200,
        ),
        ("POST", "/admin/shipping/pause" | "/admin/shipping/resume") => (path.into(), None, 200),
        ("GET", "/metrics" | "/healthz" | "/readyz" | "/openapi.json") => (path.into(), None, 200),
        _ => panic!("{method} {path}: no request for it in this test"),
    }
}

/// A new order of alice's.
async fn placed(admin: &TestApp) -> u64 {
    let card = admin.shopper(ALICE).await;
    admin.order_ok(ALICE, card, 1).await.id()
}

/// A new pending shipment (shipping resumed first: the walk may have paused it).
async fn shipment(admin: &TestApp) -> u64 {
    admin.set_shipping(false).await;
    let order = placed(admin).await;
    admin.shipment_of(order).await
}

fn rand_sku() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

async fn send(app: &TestApp, method: &str, uri: &str, body: Option<&Value>) -> reqwest::Response {
    let method: reqwest::Method = method.parse().unwrap();
    let mut request = app.client.request(method, app.url(uri));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_operation_answers_every_role_and_every_bad_key_as_the_contract_says() {
    let admin = spawn_app().await;
    let roles = Roles::make(&admin).await;
    let bad = roles.bad_keys(&admin).await;
    // A message to ask for on the message routes.
    admin.register_ok(ALICE, VISA).await;
    let doc = admin.openapi().await;
    let mut walked = 0;
    let mut refusal_body: Option<Value> = None;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let who = who(&method, path);
            walked += 1;
            for (name, app) in &bad {
                let (uri, body, _) = request_for(&admin, &method, path).await;
                let r = send(app, &method, &uri, body.as_ref()).await;
                let what = format!("{method} {uri} with {name}");
                if who == Who::Anyone {
                    assert_eq!(r.status(), 200, "{what}");
                    continue;
                }
                assert_eq!(r.headers()["www-authenticate"], "Bearer", "{what}");
                let problem = assert_problem(r, 401, "unauthorized").await;
                // One body for every way a key can be wrong.
                assert_eq!(
                    refusal_body.get_or_insert(problem.clone()),
                    &problem,
                    "{what}"
                );
            }
            for (role, app) in &roles.by_role {
                let (uri, body, success) = request_for(&admin, &method, path).await;
                let r = send(app, &method, &uri, body.as_ref()).await;
                let what = format!("{method} {uri} as {role}");
                if allowed(who, role) {
                    assert_eq!(r.status(), success, "{what}: {}", r.text().await.unwrap());
                } else {
                    assert_problem(r, 403, "forbidden").await;
                }
            }
        }
    }
    assert!(walked >= 20, "only {walked} operations in the document");
}

#[tokio::test]
async fn the_access_table_names_every_operation_of_the_document_and_no_other() {
    use paytree::http::access::{TABLE, access};
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let parsed: axum::http::Method = method.parse().unwrap();
            assert!(
                access(&parsed, path).is_some(),
                "{method} {path} is served but not in the access table, so it is refused"
            );
            documented.push((method, path.clone()));
        }
    }
    // Kept out of the document on purpose: problem pages (documentation) and test hooks.
    for (method, path, _) in TABLE {
        if *path == "/problems/{slug}"
            || path.starts_with("/admin/test/")
            || path.starts_with("/app")
        {
            continue;
        }
        assert!(
            documented.contains(&(method.to_string(), path.to_string())),
            "the access table names {method} {path}, which the document does not have"
        );
    }
}
