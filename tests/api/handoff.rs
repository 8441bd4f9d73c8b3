//! Restarts under load from 32 kept-alive clients that register payment methods and read them
//! back: by handoff on SIGHUP (five, then an upgrade to another binary), on a socket that
//! systemd holds (emulated: the test binds it and hands it over as fd 3), and, the negative
//! control, by a stop and a fresh start on the same port, which must fail requests.
//! They print what they measured (`--nocapture` shows it).

use crate::helpers::*;
use command_fds::{CommandFdExt, FdMapping};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Command;

const CLIENTS: usize = 32;

/// Far more than a restart takes: past it, a test fails instead of hanging.
const RESTART_LIMIT: Duration = Duration::from_secs(120);

/// How long the handoff run lasts: `PAYTREE_HANDOFF_TEST_SECS` (the figures in
/// the README's Operations section are from a 60 s run), 20 s by default.
fn handoff_run() -> Duration {
    let secs = std::env::var("PAYTREE_HANDOFF_TEST_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// True once process `pid` has exited (a zombie has, too).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| rest.starts_with('Z')),
    }
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap();
}

/// Waits until `done` holds, at most [`RESTART_LIMIT`] from `since`.
async fn until(since: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(since.elapsed() < RESTART_LIMIT, "{what}: not in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One handoff: which process took over, and how long from the SIGHUP until the new one
/// served and until the old one had exited.
struct Handoff {
    new: u32,
    signalled: Instant,
    serving: Duration,
    old_gone: Duration,
}

/// The processes that follow one another on one socket, known by the pid file they rewrite.
/// Dropped (a test that failed), the one serving is killed.
struct Lineage {
    pid_file: PathBuf,
}

impl Lineage {
    fn pid(&self) -> Option<u32> {
        paytree::handoff::read_pid(&self.pid_file).ok()
    }

    /// SIGHUP to the process serving; returns once another serves and it has exited.
    async fn hand_over(&self) -> Handoff {
        let old = self.pid().unwrap();
        let signalled = Instant::now();
        signal(old, Signal::SIGHUP);
        self.succeeded(old, signalled).await
    }

    /// Returns once a process other than `old`, signalled at `signalled`, serves and `old`
    /// has exited.
    async fn succeeded(&self, old: u32, signalled: Instant) -> Handoff {
        let (mut serving, mut old_gone) = (None, None);
        until(signalled, "a new process serving, the old one gone", || {
            let new = self.pid().is_some_and(|pid| pid != old);
            serving = serving.or(new.then(|| signalled.elapsed()));
            old_gone = old_gone.or(is_gone(old).then(|| signalled.elapsed()));
            serving.is_some() && old_gone.is_some()
        })
        .await;
        Handoff {
            new: self.pid().unwrap(),
            signalled,
            serving: serving.unwrap(),
            old_gone: old_gone.unwrap(),
        }
    }

    /// SIGTERM to the process serving; returns once it has exited.
    async fn stop(&self) {
        let pid = self.pid().unwrap();
        signal(pid, Signal::SIGTERM);
        until(Instant::now(), "the last process gone", || is_gone(pid)).await;
    }
}

impl Drop for Lineage {
    fn drop(&mut self) {
        if let Some(pid) = self.pid().filter(|pid| !is_gone(*pid)) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// The file's identity: device and inode.
fn identity(path: impl AsRef<Path>) -> (u64, u64) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.dev(), meta.ino())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_handoffs_and_an_upgrade_under_load_fail_no_request_of_kept_alive_clients() {
    let temp = tempfile::TempDir::new().unwrap();
    // paytree runs from a copy, so that the upgrade can install another binary in its place.
    let bin = temp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let exe = bin.join("paytree");
    std::fs::copy(env!("CARGO_BIN_EXE_paytree"), &exe).unwrap();
    // The upgrade: another file that still runs (bytes after the ELF image are ignored),
    // written now and renamed into place at its turn.
    let next = bin.join("paytree.next");
    std::fs::copy(&exe, &next).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&next)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"paytree, the next version"))
        .unwrap();
    let pid_file = temp.path().join("paytree.pid");
    let dir = temp.path().join("data");
    let first = start_serve_from(&exe, &dir, &["--pid-file", pid_file.to_str().unwrap()]).await;
    let lineage = Lineage { pid_file };
    until(Instant::now(), "the pid file", || lineage.pid().is_some()).await;

    let load = Load::start(&first, CLIENTS);
    let run = handoff_run();
    let started = tokio::time::Instant::now();
    let mut handoffs = Vec::new();
    for n in 1..=6 {
        tokio::time::sleep_until(started + run * n / 7).await;
        if n == 6 {
            std::fs::rename(&next, &exe).unwrap();
        }
        handoffs.push(lineage.hand_over().await);
    }
    tokio::time::sleep_until(started + run).await;
    let outcome = load.finish().await;

    let windows: Vec<_> = handoffs
        .iter()
        .map(|h| (h.signalled, h.signalled + h.serving.max(h.old_gone)))
        .collect();
    println!(
        "{CLIENTS} clients for {} s, 5 handoffs and an upgrade: {}",
        run.as_secs(),
        outcome.summary()
    );
    println!(
        "SIGHUP to new process serving (ms): {:?}; to old process gone (ms): {:?}",
        handoffs.iter().map(|h| ms(h.serving)).collect::<Vec<_>>(),
        handoffs.iter().map(|h| ms(h.old_gone)).collect::<Vec<_>>()
    );
    let longest = outcome.requests.iter().map(|(_, took)| *took).max();
    println!(
        "longest request during a handoff: {} ms; at all: {} ms",
        ms(outcome.longest_during(&windows)),
        ms(longest.unwrap_or_default())
    );
    let upgraded = handoffs.last().unwrap().new;
    assert_eq!(
        identity(format!("/proc/{upgraded}/exe")),
        identity(&exe),
        "the last handoff runs the binary installed at the path"
    );
    assert!(
        outcome.failed.is_empty() && outcome.connection_errors.is_empty(),
        "{}",
        outcome.summary()
    );
    assert!(!outcome.acknowledged.is_empty());
    outcome.assert_all_stored(&first).await;
    lineage.stop().await;
}

/// `paytree upgrade` on `pid_file`, waiting at most `wait_secs`: whether it succeeded, and
/// what it printed.
async fn upgrade(pid_file: &Path, wait_secs: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_paytree"))
        .args(["upgrade", "--pid-file", pid_file.to_str().unwrap()])
        .args(["--wait-secs", wait_secs])
        .output()
        .await
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

#[tokio::test]
async fn a_new_process_that_fails_before_it_is_ready_leaves_the_old_one_serving() {
    let temp = tempfile::TempDir::new().unwrap();
    let (config, pid_file) = (temp.path().join("paytree.toml"), temp.path().join("pid"));
    std::fs::write(&config, "header_timeout_ms = 10000\n").unwrap();
    let flags = [
        "--config",
        config.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
    ];
    let app = start_serve(&temp.path().join("data"), &flags).await;
    let lineage = Lineage { pid_file };
    until(Instant::now(), "the pid file", || lineage.pid().is_some()).await;
    let first = lineage.pid().unwrap();
    let (upgraded, said) = upgrade(&lineage.pid_file, "60").await;
    assert!(upgraded, "{said}");
    let second = lineage.pid().unwrap();
    assert!(
        said.contains(&format!("paytree {second} serves; {first} drains")),
        "{said}"
    );
    assert_eq!(app.health().await.status(), 200);

    // A config file the next process refuses: it exits before it is ready.
    std::fs::write(&config, "no_such_setting = 1\n").unwrap();
    let (upgraded, said) = upgrade(&lineage.pid_file, "3").await;
    assert!(!upgraded, "{said}");
    assert!(said.contains("no new process took over"), "{said}");
    assert_eq!(lineage.pid(), Some(second));
    assert!(!is_gone(second));
    assert_eq!(
        app.health().await.status(),
        200,
        "the old process serves on"
    );
    assert!(
        app.log().contains("handoff failed, this process serves on"),
        "{}",
        app.log()
    );

    // Another installation's secret.key: the next process refuses before it is ready
    // (it would have refused every API key once it had the store).
    std::fs::write(&config, "header_timeout_ms = 10000\n").unwrap();
    let secret = temp.path().join("data").join("secret.key");
    let ours = std::fs::read(&secret).unwrap();
    std::fs::write(&secret, "ab".repeat(32)).unwrap();
    let (upgraded, said) = upgrade(&lineage.pid_file, "3").await;
    assert!(!upgraded, "{said}");
    assert_eq!(lineage.pid(), Some(second));
    assert_eq!(
        app.health().await.status(),
        200,
        "the old process serves on"
    );
    assert!(
        app.log()
            .contains("not the secret the process handing over serves with"),
        "{}",
        app.log()
    );
    std::fs::write(&secret, ours).unwrap();

    // A second SIGHUP while a handoff is under way (or the old process stops) is ignored.
    signal(second, Signal::SIGHUP);
    tokio::time::sleep(Duration::from_millis(20)).await;
    signal(second, Signal::SIGHUP);
    let handoff = lineage.succeeded(second, Instant::now()).await;
    assert!(app.log().contains("SIGHUP ignored"), "{}", app.log());
    let successors = app
        .log()
        .matches("started a new process to take over")
        .count();
    assert_eq!(
        successors, 4,
        "one for each handoff asked for, none for the ignored SIGHUP"
    );
    assert!(!is_gone(handoff.new));
    lineage.stop().await;
}

/// `paytree serve` given `listener` as fd 3 with `LISTEN_FDS=1`, as systemd starts it.
fn on_socket(listener: &std::net::TcpListener) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paytree"));
    let socket = listener.as_fd().try_clone_to_owned().unwrap();
    command
        .env("LISTEN_FDS", "1")
        .fd_mappings(vec![FdMapping {
            parent_fd: socket,
            child_fd: 3,
        }])
        .unwrap();
    command
}

/// Serves `app` to the clients for 7.5 s, stopping it (SIGTERM) twice meanwhile and
/// starting the next by `start`: the process serving at the end and what the clients saw.
/// Prints how long each restart took (from the stop to the next process serving) and the
/// longest request during one, headed `what`.
async fn restarted_twice_under_load(
    what: &str,
    mut app: TestProcess,
    mut start: impl AsyncFnMut() -> TestProcess,
) -> (TestProcess, Outcome) {
    let load = Load::start(&app, CLIENTS);
    let mut restarts = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let restart = Instant::now();
        assert!(app.stop().await.success());
        app = start().await;
        restarts.push((restart, Instant::now()));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let outcome = load.finish().await;
    let took: Vec<_> = restarts.iter().map(|(from, to)| ms(*to - *from)).collect();
    println!(
        "{CLIENTS} clients, 2 {what} (stop to next serving: {took:?} ms; longest request during one: {} ms): {}",
        ms(outcome.longest_during(&restarts)),
        outcome.summary()
    );
    (app, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_on_a_socket_that_systemd_holds_fail_no_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let start = async || start_serve_by(on_socket(&listener), &dir, &[]).await;
    let app = start().await;
    assert!(
        app.log().contains("systemd (socket activation)"),
        "{}",
        app.log()
    );
    let what = "restarts on a held socket";
    let (app, outcome) = restarted_twice_under_load(what, app, start).await;
    assert!(
        outcome.failed.is_empty() && outcome.connection_errors.is_empty(),
        "{}",
        outcome.summary()
    );
    outcome.assert_all_stored(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_by_a_stop_and_a_fresh_start_on_the_same_port_fail_requests() {
    // The negative control: the clients and checks above see the failures of a restart whose
    // socket does not outlive the process.
    let temp = tempfile::TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let app = start_serve(&dir, &[]).await;
    let listen = app.address.trim_start_matches("http://").to_owned();
    let start = async || start_serve(&dir, &["--listen", &listen]).await;
    let what = "stop-and-start restarts on the same port";
    let (app, outcome) = restarted_twice_under_load(what, app, start).await;
    assert!(
        !outcome.connection_errors.is_empty(),
        "a restart with no socket kept open failed no request: the test cannot see failures"
    );
    outcome.assert_all_stored(&app).await;
}
