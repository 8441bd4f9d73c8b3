//! The web pages as HTTP sees them (the browser tests in `tests/browser/` drive them): served
//! without a key, every page and asset with the strict CSP and the security and cache
//! headers, revalidated by ETag; and `GET /me`, which the pages sign in with.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn every_page_and_asset_is_served_without_a_key_with_the_csp_and_revalidates_by_etag() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let mut assets = Vec::new();
    for page in ["/app/", "/app/seller"] {
        let r = anonymous.get(page).await;
        assert_eq!(r.status(), 200, "{page}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = r.text().await.unwrap();
        for attr in ["src=\"", "href=\""] {
            for rest in html.split(attr).skip(1) {
                let target = &rest[..rest.find('"').unwrap()];
                if target.starts_with("/app/") {
                    assets.push(target.to_owned());
                }
            }
        }
    }
    assert!(assets.len() >= 6, "{assets:?}");
    for path in ["/app/", "/app/seller"]
        .iter()
        .map(|p| p.to_string())
        .chain(assets)
    {
        let r = anonymous.get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        let etag = h["etag"].to_str().unwrap().to_owned();
        let again = anonymous
            .client
            .get(anonymous.url(&path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.headers().contains_key("content-security-policy"));
    }
    let r = anonymous.get("/app").await;
    assert_eq!(r.status(), 200, "the client follows /app to /app/");
    assert_problem(anonymous.get("/app/secrets.js").await, 404, "not-found").await;
    assert_problem(anonymous.get("/app/../admin.key").await, 404, "not-found").await;
}

#[tokio::test]
async fn me_is_the_calling_key_without_the_key_itself() {
    let admin = spawn_app().await;
    let alice = admin.as_role("customer", Some("alice")).await;
    let me: Value = alice.ok_json("/me").await;
    assert_eq!(me["role"], "customer");
    assert_eq!(me["customerId"], "alice");
    assert!(me["id"].as_str().unwrap().starts_with("key_"));
    assert!(me.get("key").is_none(), "{me}");
    assert_eq!(admin.ok_json("/me").await["role"], "admin");
    assert_problem(admin.anonymous().get("/me").await, 401, "unauthorized").await;
}
