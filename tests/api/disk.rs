//! A full disk, for real: the data dir is a small tmpfs the test mounts, filled under load by
//! registrations (with a ballast file, so that filling takes seconds), then given space back
//! by removing the ballast. paytree must turn unready as soon as a commit fails, answer the
//! writes it cannot store 503 (never 500, never a success), lose nothing it acknowledged, and
//! come back by itself, without a restart, once there is space again.
//!
//! Mounting needs root (CAP_SYS_ADMIN); where it is not permitted the test says so and passes
//! without running.

use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 8;
/// The filesystem's size, and the ballast that leaves registrations a few hundred KB.
const TMPFS_BYTES: u64 = 6 << 20;

/// A tmpfs mounted at a directory of its own, unmounted on drop.
struct Tmpfs {
    point: PathBuf,
}

impl Tmpfs {
    fn mount(point: &Path, bytes: u64) -> Result<Self, String> {
        std::fs::create_dir_all(point).unwrap();
        let output = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(point)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        Ok(Self {
            point: point.to_owned(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.point)
            .status();
    }
}

/// Free space on the filesystem of `dir`, as paytree reports it.
fn free_bytes(dir: &Path) -> u64 {
    paytree::maintenance::disk::usage(dir)
        .free
        .expect("statvfs works on a tmpfs")
        .available
}

/// What the writers saw.
#[derive(Debug, Default)]
struct Seen {
    /// Method ids answered 201.
    acked: Vec<u64>,
    /// When the first write was refused, and every refusal's status.
    first_refusal: Option<Instant>,
    refusals: Vec<u16>,
    /// Any answer that is neither 201 nor a 503 problem.
    unexpected: Vec<String>,
}

async fn writer(app: TestApp, w: usize, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        // A customer per writer and hundred registrations, so that the views stay small.
        let customer = format!("disk-{w}-{}", n / 100);
        let r = app.register(&customer, "card", "4111111111111111").await;
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap_or_default();
        let refused = {
            let mut seen = seen.lock().unwrap();
            match status {
                201 => {
                    let method: serde_json::Value = serde_json::from_str(&body).unwrap();
                    seen.acked.push(method.id());
                    false
                }
                503 if content_type.as_deref() == Some("application/problem+json") => {
                    seen.first_refusal.get_or_insert_with(Instant::now);
                    seen.refusals.push(status);
                    true
                }
                _ => {
                    seen.unexpected.push(format!("{status}: {body}"));
                    false
                }
            }
        };
        if refused {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls `/readyz` every 20 ms until `stop`: each change of its status, and when.
async fn readiness(app: TestApp, stop: Arc<AtomicBool>) -> Vec<(Instant, u16)> {
    let mut changes: Vec<(Instant, u16)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let status = app.ready().await.status().as_u16();
        if changes.last().is_none_or(|(_, last)| *last != status) {
            changes.push((Instant::now(), status));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    changes
}

async fn wait_until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_turns_readiness_off_refuses_writes_with_503_and_recovers_by_itself_once_space_is_freed()
 {
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let fs = match Tmpfs::mount(&dir, TMPFS_BYTES) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED: mounting a tmpfs is not permitted here ({why})");
            return;
        }
    };
    let mut app = start_serve(&dir, &[]).await;
    let admin = app.with_key(&admin_key(&dir).unwrap());
    // Leave the store a few hundred KB to grow into.
    let ballast = dir.join("ballast");
    let room = 400 << 10;
    let ballast_bytes = free_bytes(&fs.point).saturating_sub(room);
    std::fs::write(&ballast, vec![0u8; ballast_bytes as usize]).unwrap();
    assert_eq!(admin.ready().await.status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let probe = tokio::spawn(readiness(TestApp::handle(&admin), stop.clone()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                TestApp::handle(&admin),
                w,
                stop.clone(),
                seen.clone(),
            ))
        })
        .collect();

    // Filling: until writes are refused (the disk is full), then a little longer.
    wait_until(
        "the disk filled and writes were refused",
        Duration::from_secs(120),
        async || seen.lock().unwrap().first_refusal.is_some(),
    )
    .await;
    let full_at = seen.lock().unwrap().first_refusal.unwrap();
    let acked_when_full = seen.lock().unwrap().acked.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics_full = admin.metrics().await;

    // Space back: the writes must succeed again without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let freed_at = Instant::now();
    wait_until(
        "registrations succeed again",
        Duration::from_secs(60),
        async || seen.lock().unwrap().acked.len() > acked_when_full + 20,
    )
    .await;
    let recovered_in = freed_at.elapsed();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let changes = probe.await.unwrap();
    let seen = Arc::try_unwrap(seen).unwrap().into_inner().unwrap();
    let log = app.log();
    for line in log.lines().filter(|l| {
        l.contains("storage I/O error")
            || l.contains("store reopened")
            || l.contains("reopening the store failed")
    }) {
        eprintln!("LOG {}", &line[..line.len().min(300)]);
    }

    // Ready, then unready from about the first refusal until the space was freed, then ready.
    let statuses: Vec<u16> = changes.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [200, 503, 200], "/readyz went {statuses:?}");
    let (unready_at, ready_again_at) = (changes[1].0, changes[2].0);
    // The store turns unready before it answers the failed commit, so the probe (every
    // 20 ms) sees 503 about when the first refusal arrives: the 2 s bound is the issue's.
    let lag = unready_at.saturating_duration_since(full_at);
    assert!(
        lag < Duration::from_secs(2),
        "/readyz turned 503 {lag:?} after the first refusal"
    );
    assert!(
        ready_again_at > freed_at,
        "/readyz was 200 again before the space was freed"
    );
    assert!(
        seen.unexpected.is_empty(),
        "answers other than 201 and 503: {:?}",
        &seen.unexpected[..seen.unexpected.len().min(5)]
    );
    assert!(
        metrics_full.contains("paytree_store_writable 0"),
        "paytree_store_writable is not 0 while full"
    );
    assert_eq!(admin.ready().await.status(), 200);
    assert!(admin.metrics().await.contains("paytree_store_writable 1"));
    assert!(
        app.log().contains("storage I/O error"),
        "no log line says the store failed"
    );
    assert!(
        app.log().contains("store reopened"),
        "no log line says the store came back"
    );

    // Nothing acknowledged lost: every 201's method is there, now and after a restart.
    let lost = missing(&admin, &seen.acked).await;
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");
    app.stop().await;
    let restarted = start_serve(&dir, &[]).await;
    let admin = restarted.with_key(&admin_key(&dir).unwrap());
    let lost = missing(&admin, &seen.acked).await;
    assert!(
        lost.is_empty(),
        "acknowledged but missing after a restart: {lost:?}"
    );
    eprintln!(
        "full disk: {} registrations acknowledged ({acked_when_full} before the disk was full), \
         {} refused with 503; /readyz 503 {:?} after the first refusal, 200 again {:?} after \
         the space was freed; registrations succeeded again {recovered_in:?} after it",
        seen.acked.len(),
        seen.refusals.len(),
        lag,
        ready_again_at.saturating_duration_since(freed_at),
    );
}

/// The acknowledged methods that the store does not have.
async fn missing(app: &TestApp, acked: &[u64]) -> Vec<u64> {
    let mut missing = Vec::new();
    for &id in acked {
        if app.get_paymethod(id).await.status() != 200 {
            missing.push(id);
        }
    }
    missing
}
