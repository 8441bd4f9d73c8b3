use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn a_restart_keeps_every_registered_method_and_never_reuses_an_id() {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, &[]).await;
    let mut before = Vec::new();
    for i in 0..20 {
        let m = app.register_ok(&format!("cust-{}", i % 3), VISA).await;
        before.push(m);
    }
    let changed = before[0]["id"].as_u64().unwrap();
    assert_eq!(
        app.patch(changed, &serde_json::json!({"number": MASTERCARD}), None)
            .await
            .status(),
        200
    );
    let status = app.stop().await;
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");

    let app = start_serve(&dir, &[]).await;
    for m in &before {
        let id = m["id"].as_u64().unwrap();
        let stored: Value = app
            .get(&format!("/paymethods/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if id == changed {
            assert_eq!(stored["version"], 2);
            assert_eq!(stored["last4"], "4444");
        } else {
            assert_eq!(&stored, m);
        }
    }
    let total: usize = (0..3)
        .map(|i| format!("cust-{i}"))
        .collect::<Vec<_>>()
        .len();
    let mut count = 0;
    for i in 0..total {
        count += app.list(&format!("cust-{i}")).await["items"]
            .as_array()
            .unwrap()
            .len();
    }
    assert_eq!(count, 20);
    let max = before
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        app.register_ok("cust-new", VISA).await["id"]
            .as_u64()
            .unwrap()
            > max
    );
}
