//! Only the canonical decimal form of an id names an object; a path segment that is not
//! one answers as an unknown id does (404 `not-found`), on every route that takes an id.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

/// Other spellings of `id`: a sign (also percent-encoded), leading zeros.
fn aliases(id: u64) -> [String; 4] {
    [
        format!("+{id}"),
        format!("%2B{id}"),
        format!("0{id}"),
        format!("00{id}"),
    ]
}

#[tokio::test]
async fn an_id_written_with_a_sign_or_leading_zeros_names_nothing() {
    let app = spawn_app().await;
    let method = app.register_ok("xena", VISA).await;
    let id = method["id"].as_u64().unwrap();
    let payment = method["verificationPaymentId"].as_u64().unwrap();
    let message = wait_for_messages(&app, "xena", 1).await[0]["id"]
        .as_u64()
        .unwrap();
    let routes = [
        (Method::GET, "/paymethods/{}", id),
        (Method::PATCH, "/paymethods/{}", id),
        (Method::DELETE, "/paymethods/{}", id),
        (Method::POST, "/admin/paymethods/{}/release", id),
        (Method::GET, "/payments/{}", payment),
        (Method::GET, "/admin/messages/{}", message),
        (Method::POST, "/admin/messages/{}/redeliver", message),
    ];
    for (method, path, id) in routes {
        let canonical = path.replace("{}", &id.to_string());
        if method == Method::GET {
            assert_eq!(app.get(&canonical).await.status(), 200, "{canonical}");
        }
        for alias in aliases(id) {
            let path = path.replace("{}", &alias);
            let mut request = app.client.request(method.clone(), app.url(&path));
            if method == Method::PATCH {
                request = request.json(&json!({"kind": "bank", "number": BANK}));
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 404, "{method} {path}");
            assert_problem(r, 404, "not-found").await;
        }
    }
    // Nothing was changed or removed through an alias.
    assert_eq!(app.version(id).await, 1);
    assert_problem(app.get("/paymethods/0").await, 404, "not-found").await;
}
