//! Keys as an admin makes, lists and revokes them; the bootstrap admin key; the audit log;
//! and where keys must never appear.

use super::*;
use serde_json::Value;

#[tokio::test]
async fn a_key_is_shown_once_listed_without_itself_and_refused_once_revoked() {
    // A key's last use is in its replica's memory until it is saved (every 10 s): the use
    // and the listing on one replica.
    let admin = spawn_app().await.one_replica();
    let made = admin
        .make_key(&json!({"role": "customer", "customerId": ALICE, "name": "alice's phone", "expiresAt": null}))
        .await;
    let key = made["key"].as_str().unwrap();
    let id = made["id"].as_str().unwrap();
    assert!(key.starts_with("ptk_") && key.len() >= 36, "{made}");
    assert!(id.starts_with("key_"), "{made}");
    assert_eq!(made["prefix"], &key[..8]);
    assert_eq!(made["role"], "customer");
    assert_eq!(made["customerId"], ALICE);
    assert_eq!(made["name"], "alice's phone");
    assert!(made["expiresAt"].is_null());

    let alice = admin.with_key(key);
    assert_eq!(
        alice
            .get(&format!("/paymethods?customerId={ALICE}"))
            .await
            .status(),
        200
    );
    let listed = admin.all_keys().await;
    let entry = listed.iter().find(|k| k["id"] == id).expect("listed");
    assert!(
        entry.get("key").is_none(),
        "a list never shows a key: {entry}"
    );
    assert!(!serde_json::to_string(&listed).unwrap().contains(&key[8..]));
    assert!(entry["lastUsedAt"].is_string(), "its use shows: {entry}");
    assert_eq!(listed.len(), 2, "the admin key and this one");

    let r = admin
        .client
        .delete(admin.url(&format!("/admin/keys/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Refused from the answer on (the contract allows a second; here it is at once).
    let refused = alice.get(&format!("/paymethods?customerId={ALICE}")).await;
    assert_problem(refused, 401, "unauthorized").await;
    let again = admin
        .client
        .delete(admin.url(&format!("/admin/keys/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204, "revoking twice changes nothing");
    let own = admin
        .all_keys()
        .await
        .into_iter()
        .find(|k| k["role"] == "admin")
        .unwrap();
    let own = format!("/admin/keys/{}", own["id"].as_str().unwrap());
    let r = admin.client.delete(admin.url(&own)).send().await.unwrap();
    assert_problem(r, 409, "own-key").await;
    assert_eq!(admin.all_keys().await.len(), 2, "the admin key still works");
    let gone = admin
        .client
        .delete(admin.url("/admin/keys/key_000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_problem(gone, 404, "not-found").await;
    let revoked = admin.all_keys().await;
    assert!(revoked.iter().find(|k| k["id"] == id).unwrap()["revokedAt"].is_string());
}

#[tokio::test]
async fn bad_key_requests_are_refused_field_by_field() {
    let admin = spawn_app().await;
    for (body, fields) in [
        (json!({"role": "root"}), vec!["role"]),
        (json!({"role": "customer"}), vec!["customerId"]),
        (
            json!({"role": "service", "customerId": ALICE}),
            vec!["customerId"],
        ),
        (
            json!({"role": "customer", "customerId": "a b"}),
            vec!["customerId"],
        ),
        (
            json!({"role": "metrics", "expiresAt": "2001-01-01T00:00:00Z"}),
            vec!["expiresAt"],
        ),
        (
            json!({"role": "metrics", "expiresAt": "tomorrow"}),
            vec!["expiresAt"],
        ),
        (
            json!({"role": "metrics", "name": "x".repeat(101)}),
            vec!["name"],
        ),
    ] {
        let r = admin.post_json("/admin/keys", &body).await;
        let problem = assert_problem(r, 422, "validation-failed").await;
        let named = failed_fields(&problem);
        assert_eq!(named, fields, "{body}");
    }
    let r = admin
        .post_json("/admin/keys", &json!({"role": "metrics", "scope": "all"}))
        .await;
    assert_problem(r, 400, "invalid-request").await;
    assert_eq!(admin.all_keys().await.len(), 1, "nothing was made");
}

#[tokio::test]
async fn admin_actions_are_in_the_audit_log_with_the_acting_key() {
    let admin = spawn_app().await;
    let other_admin = admin.as_role("admin", None).await;
    let acting = other_admin.all_keys().await;
    let made = other_admin.make_key(&json!({"role": "metrics"})).await;
    let made_id = made["id"].as_str().unwrap();
    let r = other_admin
        .client
        .delete(other_admin.url(&format!("/admin/keys/{made_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let log = admin.audit().await;
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    // The bootstrap key (by paytree itself), the second admin key, then what it did.
    assert_eq!(actions.len(), 4, "{log:?}");
    assert_eq!(actions[0].0, "key.created");
    assert!(
        log[0]["keyId"].is_null(),
        "the bootstrap key is made by paytree: {log:?}"
    );
    assert_eq!(actions[2], ("key.created", made_id));
    assert_eq!(actions[3], ("key.revoked", made_id));
    let second_admin = acting
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .find(|id| *id == actions[1].1)
        .expect("the second admin key");
    assert_eq!(log[2]["keyId"], second_admin, "the acting key is named");
    assert_eq!(log[3]["keyId"], second_admin);
    let ids: Vec<u64> = log.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert!(log.iter().all(|e| e["at"].is_string()));
}

#[tokio::test]
async fn a_release_is_audited() {
    let admin = spawn_app_with(&["--test-hooks", "--quarantine-failures", "1"]).await;
    let id = admin.register_ok(ALICE, VISA).await.id();
    let r = admin
        .post_raw(&format!("/admin/test/panic/paymethods/{id}"), None, "")
        .await;
    assert_eq!(r.status(), 202);
    let mut released = Value::Null;
    for _ in 0..100 {
        released = admin.release(id).await.json().await.unwrap();
        if released["wasQuarantined"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(released["wasQuarantined"], true, "{released}");
    let log = admin.audit().await;
    let last = log.last().unwrap();
    assert_eq!(last["action"], "paymethod.released");
    assert_eq!(last["target"], id.to_string());
    assert!(last["keyId"].as_str().unwrap().starts_with("key_"));
}

#[cfg(unix)]
#[tokio::test]
async fn the_admin_key_file_is_private_and_no_key_is_kept_in_plaintext_anywhere_else() {
    use std::os::unix::fs::PermissionsExt;
    let mut app = spawn_process().await;
    let file = app.dir.join("admin.key");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin.key mode {mode:o}");
    let admin_key = app.key.clone().unwrap();
    let mut keys = vec![admin_key.clone()];
    for role in ["service", "metrics", "seller"] {
        let made = app.make_key(&json!({"role": role})).await;
        keys.push(made["key"].as_str().unwrap().to_owned());
    }
    let customer = app
        .make_key(&json!({"role": "customer", "customerId": ALICE}))
        .await;
    keys.push(customer["key"].as_str().unwrap().to_owned());
    for key in &keys {
        let r = app.with_key(key).get("/metrics").await;
        assert!(r.status() == 200 || r.status() == 403);
    }
    app.with_key(&keys[4]).register_ok(ALICE, VISA).await;
    let metrics = app.metrics().await;
    let listing = serde_json::to_string(&app.all_keys().await).unwrap();
    assert_eq!(app.stop().await.code(), Some(0));
    let log = app.log();
    assert!(log.contains("admin.key"), "the log names the file");
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&app.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "admin.key" {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    for key in &keys {
        // The secret part: `ptk_` and four characters are shown on purpose.
        let secret = &key[8..];
        assert!(!log.contains(secret), "a key is in the log");
        assert!(!metrics.contains(secret), "a key is in /metrics");
        assert!(!listing.contains(secret), "a key is in the listing");
        assert!(!stored.contains(secret), "a key is stored in plaintext");
    }
}

#[tokio::test]
async fn paytree_admin_key_from_the_environment_is_the_admin_key() {
    let key = "ptk_EnvironmentAdminKey0123456789abcdefghijklmn";
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let app = start_serve_with_env(&dir, &[], &[("PAYTREE_ADMIN_KEY", key)]).await;
    assert!(
        !dir.join("admin.key").exists(),
        "no key file when the key is given"
    );
    let admin = app.with_key(key);
    assert_eq!(admin.all_keys().await.len(), 1);
    assert_problem(
        app.anonymous().get("/admin/keys").await,
        401,
        "unauthorized",
    )
    .await;
    drop(app);
    let bad = try_start_serve_with_env(&dir, &[], &[("PAYTREE_ADMIN_KEY", "not-a-key")]).await;
    assert!(bad.contains("PAYTREE_ADMIN_KEY"), "{bad}");
}
