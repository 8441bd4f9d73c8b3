//! Backup and restore through the binary: `paytree backup` against a server under load,
//! `paytree restore` into a new data directory, and the crash test's audit on what a
//! paytree started from it serves; who may take a backup; what restore refuses.

use crate::helpers::audit;
use crate::helpers::workload::{Acks, Mix, Rng, writer};
use crate::helpers::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 6;

/// `paytree backup` of the server at `app` into `to`, with the admin key of its data dir.
pub async fn backup(app: &TestApp, to: &Path) -> (bool, String) {
    backup_from(&app.address, to, &app.dir.join("admin.key")).await
}

/// `paytree backup` of the server at `url` into `to` with the key in `key_file`.
async fn backup_from(url: &str, to: &Path, key_file: &Path) -> (bool, String) {
    let to = to.to_str().unwrap();
    let key_file = key_file.to_str().unwrap();
    paytree_command(&["backup", "--to", to, "--url", url, "--key-file", key_file]).await
}

/// `paytree restore` of `from` into `dir`, with `extra` flags.
pub async fn restore(from: &Path, dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "restore",
        "--from",
        from.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    paytree_command(&args).await
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_everything_acknowledged_before_it_and_passes_the_audit()
{
    let provider = spawn_provider().await;
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let flags = [
        "--provider",
        &provider.address,
        "--reconcile-after-ms",
        "1500",
    ];
    let mut app = start_serve(&dir, &flags).await;
    app.stock(TEE, 19_000, true).await;
    let acks = Arc::new(Mutex::new(Acks::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut rng = Rng::from_clock("backup test");
    // No cancellations: the saga's refunds after the backup would show in the payment
    // system's ledger, which a restored store cannot match.
    let mix = Mix { cancels: false };
    let clients: Vec<_> = (0..WRITERS)
        .map(|w| {
            let app = TestApp::handle(&app);
            tokio::spawn(writer(app, w, acks.clone(), rng.next(), mix, stop.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let before: Acks = acks.lock().unwrap().clone();
    let file = temp.path().join("paytree.backup");
    let (ok, printed) = backup(&app, &file).await;
    assert!(ok, "{printed}");
    assert!(printed.contains("backup written to"), "{printed}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let after = acks.lock().unwrap().registered.len();
    assert!(
        before.registered.len() > 10 && after > before.registered.len(),
        "the writers registered before and after the backup began: {} then {after}",
        before.registered.len()
    );
    let admin = app.key.clone().unwrap();
    app.stop().await;

    let restored_dir = temp.path().join("restored");
    let secret = dir.join("secret.key");
    let (ok, printed) = restore(
        &file,
        &restored_dir,
        &["--secret", secret.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{printed}");
    let process = start_serve(&restored_dir, &flags).await;
    let restored = process.with_key(&admin);
    audit::settle(&restored).await;
    let report = audit::audit(&restored, &provider, before, WRITERS, true).await;
    eprintln!("{}", report.summary());
    assert!(report.acknowledged > 10 && report.orders > 0, "{report:?}");
    report.assert_clean();
}

#[tokio::test]
async fn only_an_admin_key_may_take_a_backup_and_the_answer_is_the_store() {
    let app = spawn_app().await;
    let r = app
        .anonymous()
        .post_json("/admin/backup", &serde_json::json!({}))
        .await;
    assert_problem(r, 401, "unauthorized").await;
    for role in ["service", "metrics"] {
        let other = app.as_role(role, None).await;
        let r = other
            .post_json("/admin/backup", &serde_json::json!({}))
            .await;
        assert_problem(r, 403, "forbidden").await;
    }
    let id = app.register_ok("alice", VISA).await.id();
    let r = app
        .client
        .post(app.url("/admin/backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let at = position(&r);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    assert!(at >= 1, "the backup holds the registration's event");

    // The answer is a store that paytree serves the method from.
    let temp = tempfile::TempDir::new().unwrap();
    let file = temp.path().join("answer.redb");
    std::fs::write(&file, &body).unwrap();
    let dir = temp.path().join("data");
    let secret = app.dir.join("secret.key");
    let (ok, printed) = restore(&file, &dir, &["--secret", secret.to_str().unwrap()]).await;
    assert!(ok, "{printed}");
    let process = start_serve(&dir, &[]).await;
    let restored = process.with_key(app.key.as_deref().unwrap());
    assert_eq!(restored.paymethod(id).await["customerId"], "alice");
    let audit = app.audit().await;
    let last = audit.last().unwrap();
    assert_eq!(
        (&last["action"], &last["target"]),
        (&"backup.taken".into(), &at.to_string().into())
    );
}

#[tokio::test]
async fn a_failed_backup_leaves_no_file() {
    let app = spawn_process().await;
    let temp = tempfile::TempDir::new().unwrap();
    let to = temp.path().join("paytree.backup");
    let wrong_key = temp.path().join("wrong.key");
    std::fs::write(&wrong_key, format!("ptk_{}", "A".repeat(43))).unwrap();
    let (ok, printed) = backup_from(&app.address, &to, &wrong_key).await;
    assert!(!ok && printed.contains("401"), "{printed}");
    let (ok, printed) = backup_from("http://127.0.0.1:9", &to, &wrong_key).await;
    assert!(!ok && printed.contains("calling"), "{printed}");
    assert_eq!(files_in(temp.path()), ["wrong.key"]);
    // A file that exists is never replaced.
    std::fs::write(&to, "keep me").unwrap();
    let (ok, printed) = backup(&app, &to).await;
    assert!(!ok && printed.contains("exists"), "{printed}");
    assert_eq!(std::fs::read_to_string(&to).unwrap(), "keep me");
}

#[tokio::test]
async fn restore_refuses_a_live_directory_and_changes_nothing() {
    let app = spawn_process().await;
    let id = app.register_ok("alice", VISA).await.id();
    let temp = tempfile::TempDir::new().unwrap();
    let file = temp.path().join("paytree.backup");
    let (ok, printed) = backup(&app, &file).await;
    assert!(ok, "{printed}");
    let files = files_in(&app.dir);
    let (ok, printed) = restore(&file, &app.dir, &["--force"]).await;
    assert!(!ok, "{printed}");
    assert!(printed.contains("open in another process"), "{printed}");
    assert_eq!(files_in(&app.dir), files);
    assert_eq!(app.paymethod(id).await["customerId"], "alice");
}

#[tokio::test]
async fn restore_replaces_an_existing_store_only_with_force() {
    let mut app = spawn_process().await;
    let id = app.register_ok("alice", VISA).await.id();
    let temp = tempfile::TempDir::new().unwrap();
    let file = temp.path().join("paytree.backup");
    assert!(backup(&app, &file).await.0);
    let later = app.register_ok("bob", VISA).await.id();
    app.stop().await;

    let (ok, printed) = restore(&file, &app.dir, &[]).await;
    assert!(!ok && printed.contains("--force"), "{printed}");
    let (ok, printed) = restore(&file, &app.dir, &["--force"]).await;
    assert!(ok, "{printed}");
    let app = start_serve(&app.dir, &[]).await;
    assert_eq!(app.paymethod(id).await["customerId"], "alice");
    assert_eq!(app.get_paymethod(later).await.status(), 404);
}

#[tokio::test]
async fn restore_refuses_a_file_that_is_not_a_store_and_creates_nothing() {
    let temp = tempfile::TempDir::new().unwrap();
    let file = temp.path().join("notes.txt");
    std::fs::write(&file, "not a store ".repeat(1000)).unwrap();
    let secret = temp.path().join("secret.key");
    std::fs::write(&secret, "ab".repeat(32)).unwrap();
    let dir = temp.path().join("data");
    let (ok, printed) = restore(&file, &dir, &["--secret", secret.to_str().unwrap()]).await;
    assert!(
        !ok && printed.contains("is not a paytree store"),
        "{printed}"
    );
    assert!(!dir.exists());
}

#[tokio::test]
async fn restore_without_a_secret_is_refused_and_says_where_to_find_it() {
    let app = spawn_process().await;
    let temp = tempfile::TempDir::new().unwrap();
    let file = temp.path().join("paytree.backup");
    assert!(backup(&app, &file).await.0);
    let dir = temp.path().join("data");
    let (ok, printed) = restore(&file, &dir, &[]).await;
    assert!(!ok, "{printed}");
    for words in ["no secret.key", "--secret FILE", "API keys", "fingerprints"] {
        assert!(printed.contains(words), "{words}: {printed}");
    }
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    // Another installation's secret beside the directory's own is refused too.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret.key"), "cd".repeat(32)).unwrap();
    let (ok, printed) = restore(
        &file,
        &dir,
        &["--secret", app.dir.join("secret.key").to_str().unwrap()],
    )
    .await;
    assert!(!ok && printed.contains("differs"), "{printed}");
    assert_eq!(files_in(&dir), ["secret.key"]);
}

#[tokio::test]
async fn restore_with_another_installations_secret_is_refused_and_so_is_a_start_with_one() {
    let mut app = spawn_process().await;
    let temp = tempfile::TempDir::new().unwrap();
    let file = temp.path().join("paytree.backup");
    assert!(backup(&app, &file).await.0);
    let other = temp.path().join("other.key");
    std::fs::write(&other, "ab".repeat(32)).unwrap();
    let dir = temp.path().join("data");
    let (ok, printed) = restore(&file, &dir, &["--secret", other.to_str().unwrap()]).await;
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("not the one this backup's store was made with"),
        "{printed}"
    );
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    // The right one restores.
    let secret = app.dir.join("secret.key");
    let (ok, printed) = restore(&file, &dir, &["--secret", secret.to_str().unwrap()]).await;
    assert!(ok, "{printed}");

    // A store started with another secret.key than its own refuses to start.
    assert!(app.stop().await.success());
    std::fs::copy(&other, &secret).unwrap();
    let printed = try_start_serve_with_env(&app.dir, &[], &[]).await;
    assert!(
        printed.contains("not the secret this store was made with"),
        "{printed}"
    );
}

#[tokio::test]
async fn compact_refuses_a_live_directory_and_a_compacted_store_still_serves_its_data() {
    let mut app = spawn_process().await;
    let mut kept = Vec::new();
    for n in 0..40 {
        let id = app.register_ok(&format!("c{n}"), VISA).await.id();
        if n % 2 == 0 {
            kept.push(id);
        } else {
            assert_eq!(app.remove(id, None).await.status(), 204);
        }
    }
    let store = app.dir.join("paytree.redb");
    let size = || std::fs::metadata(&store).unwrap().len() as f64;
    let before = size();
    let scraped = metric(&app, "paytree_store_file_bytes").await;
    assert!(
        before <= scraped && scraped <= size(),
        "{scraped} for {before}"
    );
    assert!(metric(&app, "paytree_data_dir_bytes").await > before);
    assert!(metric(&app, "paytree_data_dir_available_bytes").await > 0.0);

    let dir = app.dir.to_str().unwrap().to_owned();
    let (ok, printed) = paytree_command(&["compact", "--data-dir", &dir]).await;
    assert!(!ok && printed.contains("stop it first"), "{printed}");
    app.stop().await;
    let (ok, printed) = paytree_command(&["compact", "--data-dir", &dir]).await;
    assert!(
        ok && printed.contains("before") && printed.contains("after"),
        "{printed}"
    );
    let app = start_serve(&app.dir, &[]).await;
    for id in kept {
        assert_eq!(app.get_paymethod(id).await.status(), 200);
    }
}
