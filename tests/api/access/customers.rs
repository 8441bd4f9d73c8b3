//! Two customers, each with a key of their own, try every way to reach the other's payment
//! methods, payments, messages and mypage: by id (404, byte for byte the answer for an id
//! that does not exist) and by customerId (403). Nothing they try changes anything.

use super::*;
use serde_json::Value;

/// What one customer holds, as the admin sees it.
struct Holdings {
    method: u64,
    payment: u64,
    message: u64,
    key_id: String,
}

async fn holdings(admin: &TestApp, customer: &str, key_id: &str) -> Holdings {
    let method = admin.register_ok(customer, VISA).await;
    let message = wait_for_messages(admin, customer, 1).await[0].id();
    Holdings {
        method: method.id(),
        payment: method["verificationPaymentId"].as_u64().unwrap(),
        message,
        key_id: key_id.to_owned(),
    }
}

/// Everything of `customer` that an attempt could change, as the admin reads it.
async fn state_of(admin: &TestApp, customer: &str) -> Value {
    json!({
        "methods": admin.list(customer).await,
        "payments": admin.payments_of(customer).await,
        "messages": admin.messages(customer).await,
    })
}

/// One attempt: method, URI, body, extra header, and the answer the contract gives.
type Attempt = (
    &'static str,
    String,
    Option<Value>,
    Option<(&'static str, &'static str)>,
    Expect,
);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 404 `not-found`, the same body as for an id that does not exist.
    Unknown,
    /// 403 `forbidden`.
    Forbidden,
    /// 200 with no items: the filter names an object of another customer.
    Empty,
}

fn attempts(other: &str, theirs: &Holdings) -> Vec<Attempt> {
    use Expect::*;
    let (m, p, msg) = (theirs.method, theirs.payment, theirs.message);
    let card = json!({"customerId": other, "kind": "card", "number": MASTERCARD});
    vec![
        ("GET", format!("/paymethods/{m}"), None, None, Unknown),
        ("HEAD", format!("/paymethods/{m}"), None, None, Unknown),
        (
            "PATCH",
            format!("/paymethods/{m}"),
            Some(json!({"number": MASTERCARD})),
            None,
            Unknown,
        ),
        (
            "PATCH",
            format!("/paymethods/{m}"),
            Some(json!({"kind": "bank", "number": BANK})),
            None,
            Unknown,
        ),
        (
            "PATCH",
            format!("/paymethods/{m}"),
            Some(json!({"number": MASTERCARD})),
            Some(("if-match", "\"1\"")),
            Unknown,
        ),
        (
            "PATCH",
            format!("/paymethods/{m}"),
            Some(json!({"number": MASTERCARD})),
            Some(("if-match", "\"7\"")),
            Unknown,
        ),
        ("DELETE", format!("/paymethods/{m}"), None, None, Unknown),
        (
            "DELETE",
            format!("/paymethods/{m}"),
            None,
            Some(("if-match", "\"1\"")),
            Unknown,
        ),
        (
            "DELETE",
            format!("/paymethods/{m}"),
            None,
            Some(("if-match", "\"9\"")),
            Unknown,
        ),
        (
            "GET",
            format!("/paymethods?customerId={other}"),
            None,
            None,
            Forbidden,
        ),
        (
            "GET",
            format!("/paymethods?customerId={other}&limit=1&after=0"),
            None,
            None,
            Forbidden,
        ),
        (
            "GET",
            format!("/paymethods?customerId={}", other.to_uppercase()),
            None,
            None,
            Forbidden,
        ),
        (
            "POST",
            "/paymethods".into(),
            Some(card.clone()),
            None,
            Forbidden,
        ),
        (
            "POST",
            "/paymethods".into(),
            Some(card),
            Some(("idempotency-key", "k-1")),
            Forbidden,
        ),
        ("GET", format!("/payments/{p}"), None, None, Unknown),
        (
            "GET",
            format!("/payments?customerId={other}"),
            None,
            None,
            Forbidden,
        ),
        (
            "GET",
            format!("/payments?paymethodId={m}"),
            None,
            None,
            Empty,
        ),
        (
            "GET",
            format!("/payments?paymethodId={m}&customerId={other}"),
            None,
            None,
            Forbidden,
        ),
        (
            "GET",
            format!("/messages?customerId={other}"),
            None,
            None,
            Forbidden,
        ),
        (
            "GET",
            format!("/messages?customerId={other}&after=0&limit=200"),
            None,
            None,
            Forbidden,
        ),
        ("GET", format!("/mypages/{other}"), None, None, Forbidden),
        (
            "GET",
            format!("/mypages/{other}?minPosition=1"),
            None,
            None,
            Forbidden,
        ),
        (
            "GET",
            format!("/admin/messages/{msg}"),
            None,
            None,
            Forbidden,
        ),
        (
            "POST",
            format!("/admin/messages/{msg}/redeliver"),
            None,
            None,
            Forbidden,
        ),
        (
            "POST",
            format!("/admin/paymethods/{m}/release"),
            None,
            None,
            Forbidden,
        ),
        ("GET", "/admin/keys".into(), None, None, Forbidden),
        (
            "POST",
            "/admin/keys".into(),
            Some(json!({"role": "customer", "customerId": other})),
            None,
            Forbidden,
        ),
        (
            "DELETE",
            format!("/admin/keys/{}", theirs.key_id),
            None,
            None,
            Forbidden,
        ),
        ("GET", "/admin/audit".into(), None, None, Forbidden),
        ("GET", "/admin/breaker".into(), None, None, Forbidden),
        ("GET", "/metrics".into(), None, None, Forbidden),
    ]
}

async fn send(app: &TestApp, attempt: &Attempt) -> reqwest::Response {
    let (method, uri, body, header, _) = attempt;
    let mut request = app.client.request(method.parse().unwrap(), app.url(uri));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some((name, value)) = header {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The answer for an id that does not exist, for the same method and route.
fn unknown_twin(attempt: &Attempt) -> Attempt {
    let (method, uri, body, header, expect) = attempt.clone();
    let mut parts: Vec<&str> = uri.split('/').collect();
    parts[2] = "999999999";
    (method, parts.join("/"), body, header, expect)
}

#[tokio::test]
async fn neither_customer_can_reach_the_others_objects_and_nothing_changes() {
    let admin = spawn_app().await;
    let alice_key = admin
        .make_key(&json!({"role": "customer", "customerId": ALICE}))
        .await;
    let bob_key = admin
        .make_key(&json!({"role": "customer", "customerId": BOB}))
        .await;
    let alice = admin.with_key(alice_key["key"].as_str().unwrap());
    let bob = admin.with_key(bob_key["key"].as_str().unwrap());
    let alices = holdings(&admin, ALICE, alice_key["id"].as_str().unwrap()).await;
    let bobs = holdings(&admin, BOB, bob_key["id"].as_str().unwrap()).await;
    let before = (state_of(&admin, ALICE).await, state_of(&admin, BOB).await);

    let mut tried = 0;
    for (who, app, other, theirs) in [("alice", &alice, BOB, &bobs), ("bob", &bob, ALICE, &alices)]
    {
        for attempt in attempts(other, theirs) {
            let what = format!("{who}: {} {}", attempt.0, attempt.1);
            let r = send(app, &attempt).await;
            match attempt.4 {
                Expect::Unknown => {
                    let twin = send(app, &unknown_twin(&attempt)).await;
                    assert_eq!(r.status(), 404, "{what}");
                    assert_eq!(twin.status(), 404, "{what} (unknown id)");
                    assert_eq!(
                        r.headers().get("content-type"),
                        twin.headers().get("content-type")
                    );
                    let (body, twin_body) = (r.bytes().await.unwrap(), twin.bytes().await.unwrap());
                    assert_eq!(body, twin_body, "{what}: not the answer for an unknown id");
                }
                Expect::Forbidden => {
                    assert_problem(r, 403, "forbidden").await;
                }
                Expect::Empty => {
                    assert_eq!(r.status(), 200, "{what}");
                    let page: Value = r.json().await.unwrap();
                    assert!(page.items().is_empty(), "{what}: {page}");
                }
            }
            tried += 1;
        }
    }
    assert!(tried >= 60, "{tried} attempts");

    let after = (state_of(&admin, ALICE).await, state_of(&admin, BOB).await);
    assert_eq!(before, after, "an attempt changed something");
    let keys = admin.all_keys().await;
    assert_eq!(keys.len(), 3, "no key was made: {keys:?}");
    assert!(
        keys.iter().all(|k| k["revokedAt"].is_null()),
        "no key was revoked"
    );

    // Each still reaches its own, with or without naming itself.
    for (app, customer, mine) in [(&alice, ALICE, &alices), (&bob, BOB, &bobs)] {
        assert_eq!(app.paymethod(mine.method).await["customerId"], customer);
        assert_eq!(app.list(customer).await.items().len(), 1);
        let implied = app.ok_json("/paymethods").await;
        assert_eq!(implied.items().len(), 1, "customerId implied by the key");
        assert_eq!(app.payment(&json!(mine.payment)).await.status(), 200);
        assert_eq!(app.mypage(customer, None).await["customerId"], customer);
        let own = app
            .post_json(
                "/paymethods",
                &json!({"kind": "card", "number": MASTERCARD}),
            )
            .await;
        assert_eq!(own.status(), 201, "a customer key registers for itself");
        assert_eq!(own.json::<Value>().await.unwrap()["customerId"], customer);
    }
}
