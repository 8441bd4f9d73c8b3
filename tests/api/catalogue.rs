//! The catalogue: admins and sellers put products, any key reads them; an inactive product
//! leaves the listing but can still be read by its sku.

use crate::helpers::*;
use serde_json::{Value, json};

async fn put(app: &TestApp, sku: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/admin/products/{sku}")))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_seller_makes_and_changes_products_any_key_reads_them_and_each_change_is_audited() {
    let admin = spawn_app().await;
    let seller = admin.as_role("seller", None).await;
    let customer = admin.as_role("customer", Some("alice")).await;
    let tee = json!({"name": "White T-shirt (M)", "unitPrice": 19000, "active": true});
    let r = put(&seller, "tee-white-m", &tee).await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["sku"], "tee-white-m");
    assert_eq!(made["unitPrice"], 19000);
    assert_eq!(made["currency"], "KRW");
    assert_eq!(made["active"], true);
    let cheaper = json!({"name": "White T-shirt (M)", "unitPrice": 17000});
    let r = put(&seller, "tee-white-m", &cheaper).await;
    assert_eq!(r.status(), 200, "a change is 200");
    put(
        &admin,
        "cap-black",
        &json!({"name": "Black cap", "unitPrice": 12000}),
    )
    .await;
    put(
        &admin,
        "sock-old",
        &json!({"name": "Old socks", "unitPrice": 3000, "active": false}),
    )
    .await;

    let page = customer.ok_json("/products").await;
    let skus: Vec<&str> = page
        .items()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["cap-black", "tee-white-m"], "active ones, by sku");
    assert_eq!(page.items()[1]["unitPrice"], 17000);
    let first = customer.ok_json("/products?limit=1").await;
    assert_eq!(first["nextAfter"], "cap-black");
    let rest = customer.ok_json("/products?limit=1&after=cap-black").await;
    assert_eq!(rest.items()[0]["sku"], "tee-white-m");
    assert!(rest["nextAfter"].is_null());
    let old = customer.ok_json("/products/sock-old").await;
    assert_eq!(
        old["active"], false,
        "an inactive product can still be read"
    );
    assert_problem(customer.get("/products/nothing").await, 404, "not-found").await;

    let service = admin.as_role("service", None).await;
    assert_problem(put(&service, "x", &tee).await, 403, "forbidden").await;
    assert_problem(put(&customer, "x", &tee).await, 403, "forbidden").await;

    let log = admin.audit().await;
    let changes: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e["action"] == "product.changed")
        .map(|e| (e["target"].as_str().unwrap(), e["keyId"].as_str().unwrap()))
        .collect();
    let seller_id = admin
        .all_keys()
        .await
        .into_iter()
        .find(|k| k["role"] == "seller")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(changes.len(), 4, "{log:?}");
    assert_eq!(changes[0], ("tee-white-m", seller_id.as_str()));
    assert_eq!(changes[1], ("tee-white-m", seller_id.as_str()));
}

#[tokio::test]
async fn bad_products_are_refused_field_by_field_and_nothing_is_stored() {
    let admin = spawn_app().await;
    for (sku, body, fields) in [
        ("Tee", json!({"name": "Tee", "unitPrice": 1}), vec!["sku"]),
        ("tee", json!({"name": "", "unitPrice": 1}), vec!["name"]),
        (
            "tee",
            json!({"name": "x".repeat(101), "unitPrice": 1}),
            vec!["name"],
        ),
        (
            "tee",
            json!({"name": "Tee", "unitPrice": 0}),
            vec!["unitPrice"],
        ),
        (
            "tee",
            json!({"name": "Tee", "unitPrice": 100_000_001}),
            vec!["unitPrice"],
        ),
        (
            "a%20b",
            json!({"name": " ", "unitPrice": -5}),
            vec!["sku", "name", "unitPrice"],
        ),
    ] {
        let r = put(&admin, sku, &body).await;
        let problem = assert_problem(r, 422, "validation-failed").await;
        assert_eq!(failed_fields(&problem), fields, "{sku} {body}");
    }
    for body in [
        json!({"name": "Tee"}),
        json!({"name": "Tee", "unitPrice": "19000"}),
        json!({"name": "Tee", "unitPrice": 1.5}),
        json!({"name": "Tee", "unitPrice": 1, "colour": "red"}),
    ] {
        assert_problem(put(&admin, "tee", &body).await, 400, "invalid-request").await;
    }
    assert!(admin.ok_json("/products").await.items().is_empty());
    assert_problem(admin.get("/products/tee").await, 404, "not-found").await;
}
