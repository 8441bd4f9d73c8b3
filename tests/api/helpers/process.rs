//! `spawn_process()` and `start_serve()`: the `paytree` binary on 127.0.0.1:0, its address
//! read from the line it prints, for tests that need a process. Dropping one kills it.

use super::TestApp;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `paytree serve` process; it derefs to the [`TestApp`] that talks to it.
pub struct TestProcess {
    app: TestApp,
    child: Option<Child>,
    log: PathBuf,
    _temp: Option<TempDir>,
}

impl Deref for TestProcess {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// `paytree serve` in a process of its own, with a fresh data dir and `flags`.
pub async fn spawn_process_with(flags: &[&str]) -> TestProcess {
    let temp = TempDir::new().unwrap();
    let dir = temp.path().join("data");
    let mut app = start_serve(&dir, flags).await;
    app._temp = Some(temp);
    app
}

/// `paytree serve` in a process of its own with a fresh data dir.
pub async fn spawn_process() -> TestProcess {
    spawn_process_with(&[]).await
}

/// Starts `paytree serve` on `dir` (which may hold data from an earlier run).
pub async fn start_serve(dir: &Path, flags: &[&str]) -> TestProcess {
    start_serve_with_env(dir, flags, &[]).await
}

/// `paytree serve` on `dir` with `flags`, expected to refuse to start; what it printed.
pub async fn try_start_serve_with_env(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> String {
    let args = serve_argv(dir, flags);
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(env!("CARGO_BIN_EXE_paytree"))
            .args(&args)
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("paytree refused to start in time")
    .unwrap();
    assert!(!output.status.success(), "paytree started");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `serve` on `dir` with `flags`, on 127.0.0.1:0 unless they name `--listen`.
fn serve_argv<'a>(dir: &'a Path, flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["serve", "--data-dir", dir.to_str().unwrap()];
    if !flags.contains(&"--listen") {
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    args.extend_from_slice(&super::without_limits(flags));
    args
}

/// Starts `paytree serve` on `dir` with `flags` and environment variables `env`.
pub async fn start_serve_with_env(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> TestProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paytree"));
    command.envs(env.iter().copied());
    start_serve_by(command, dir, flags).await
}

/// Starts `paytree serve` on `dir` with `flags` from the binary at `exe` (a copy of it, say).
pub async fn start_serve_from(exe: &Path, dir: &Path, flags: &[&str]) -> TestProcess {
    start_serve_by(Command::new(exe), dir, flags).await
}

/// Starts `paytree serve` on `dir` with `flags` as `command` (the binary, with what the test
/// gives it besides) runs it.
pub async fn start_serve_by(mut command: Command, dir: &Path, flags: &[&str]) -> TestProcess {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.with_extension(format!("log{}", rand_suffix()));
    command.args(serve_argv(dir, flags));
    let (child, address) = start(command, &log).await;
    TestProcess {
        app: TestApp::remote(address, dir.to_owned()),
        child: Some(child),
        log,
        _temp: None,
    }
}

fn rand_suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn start(mut command: Command, log: &Path) -> (Child, String) {
    let log_file = std::fs::File::create(log).unwrap();
    command
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true);
    let mut child = spawn(&mut command);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("paytree announced its address in time")
        .unwrap()
        .expect("paytree printed a line");
    let address = line.rsplit(' ').next().unwrap().to_owned();
    assert!(
        address.starts_with("http://127.0.0.1:") || address.starts_with("https://127.0.0.1:"),
        "{line}"
    );
    (child, address)
}

/// Spawns `command`. A binary the test has just written may still be open for writing in a
/// process another test forked meanwhile (until it execs): that is tried again.
fn spawn(command: &mut Command) -> Child {
    const TEXT_FILE_BUSY: i32 = 26;
    for _ in 0..50 {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(TEXT_FILE_BUSY) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            spawned => return spawned.expect("starting paytree"),
        }
    }
    panic!("the binary stayed busy");
}

impl TestProcess {
    /// `kill -9`: no drain, no shutdown, whatever was in flight is cut off.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().await.unwrap();
    }

    /// SIGTERM, without waiting for the process to end.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().unwrap().id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let pid = child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap()
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("paytree runs")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs the `paytree` binary with `args` to its end (at most 60 s): whether it succeeded, and
/// what it printed (stdout, then stderr).
pub async fn paytree_command(args: &[&str]) -> (bool, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(env!("CARGO_BIN_EXE_paytree"))
            .args(args)
            .env_remove("PAYTREE_ADMIN_KEY")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("paytree {args:?} ended in time"))
    .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}
