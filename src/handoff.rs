//! The handoff, a restart or upgrade without systemd that fails no request. On SIGHUP,
//! `paytree serve` starts a new process of the binary at the path it was started from (so
//! installing a new binary there and sending SIGHUP upgrades), with the same arguments and
//! environment, and hands it a duplicate of the listening socket (fd 3, `LISTEN_FDS=1`) and a
//! pipe (fd 4). The new process writes `ready` on the pipe once its settings are read and it
//! is about to open the store. Only then does the old one stop accepting (new connections
//! wait in the socket's backlog), drain, shut its tree down (which closes the store) and
//! exit; the new one opens the store as soon as it is free and serves the same socket. If the
//! new process fails or exits before `ready`, the old one logs it and keeps serving.
//!
//! `paytree upgrade` sends the SIGHUP to the process named in the pid file and waits for the
//! new process to rewrite it, which it does once it serves.

use anyhow::{Context, bail};
use command_fds::{CommandFdExt, FdMapping};
use std::ffi::OsString;
use std::io::{PipeReader, Write};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{oneshot, watch};

/// Names the fd of the pipe on which a new process says it is ready.
const READY_FD_VAR: &str = "PAYTREE_HANDOFF_READY_FD";
/// The check value of the secret the process handing over serves with (hex): a new process
/// with another `secret.key` refuses before it says ready, so the old one serves on.
pub const SECRET_CHECK_VAR: &str = "PAYTREE_HANDOFF_SECRET_CHECK";
/// Where the new process finds the socket (as systemd would put it) and the pipe.
const LISTEN_FD: RawFd = 3;
const READY_FD: RawFd = 4;
/// What the new process writes when it is ready to take over.
const READY: &[u8] = b"ready\n";
/// How long a new process may take to be ready before it is stopped (this one serves on).
const READY_WAIT: Duration = Duration::from_secs(60);

/// The binary and arguments this process was started with, resolved at start: once a new
/// binary is installed at the same path, [`std::env::current_exe`] names the old, deleted file.
#[derive(Debug, Clone)]
pub struct Exe {
    path: PathBuf,
    args: Vec<OsString>,
}

impl Exe {
    /// This process's: `argv[0]` made absolute (looked up in `PATH` if it has no `/`).
    pub fn this() -> anyhow::Result<Self> {
        let mut args = std::env::args_os();
        let argv0 = args.next().map(PathBuf::from).unwrap_or_default();
        let path = if argv0.as_os_str().as_encoded_bytes().contains(&b'/') {
            std::path::absolute(&argv0)?
        } else {
            match in_path(&argv0) {
                Some(path) => path,
                None => std::env::current_exe().context("finding paytree's own binary")?,
            }
        };
        Ok(Self {
            path,
            args: args.collect(),
        })
    }
}

/// The first executable file named `name` in `PATH`, as the shell found it.
fn in_path(name: &Path) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .map(|dir| dir.join(name))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// A serving process's SIGHUP handling. From [`Handoff::listen`] on, a SIGHUP never ends the
/// process (its default): it starts a handoff, or is logged and ignored.
pub struct Handoff {
    taken_over: oneshot::Receiver<u32>,
    stopping: watch::Sender<bool>,
    secret_check: Arc<Mutex<Option<String>>>,
}

impl Handoff {
    /// Hands `socket` (a duplicate of the listening socket) to a new process of `exe` on each
    /// SIGHUP; with a `refusal`, SIGHUP is logged with it and ignored.
    pub fn listen(
        exe: Exe,
        socket: OwnedFd,
        refusal: Option<&'static str>,
    ) -> anyhow::Result<Self> {
        let hup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        let (taken, taken_over) = oneshot::channel();
        let (stopping, stopped) = watch::channel(false);
        let secret_check = Arc::new(Mutex::new(None));
        let sighup = Sighup {
            hup,
            stopped,
            exe,
            refusal,
            secret_check: secret_check.clone(),
        };
        tokio::spawn(sighup.handle(socket, taken));
        Ok(Self {
            taken_over,
            stopping,
            secret_check,
        })
    }

    /// The check value (hex) of the secret this process serves with, which a new process must
    /// match before it says ready.
    pub fn expect_secret(&self, check: String) {
        *self.secret_check.lock().unwrap_or_else(|e| e.into_inner()) = Some(check);
    }

    /// Completes with the new process's id once one has taken over (never if none does).
    pub async fn taken_over(&mut self) -> u32 {
        match (&mut self.taken_over).await {
            Ok(pid) => pid,
            Err(_) => std::future::pending().await,
        }
    }

    /// This process stops for another reason: a handoff under way is called off (its process
    /// stopped), none starts any more, and the socket's duplicate is closed.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

/// The task that answers SIGHUP.
struct Sighup {
    hup: Signal,
    stopped: watch::Receiver<bool>,
    exe: Exe,
    refusal: Option<&'static str>,
    secret_check: Arc<Mutex<Option<String>>>,
}

impl Sighup {
    async fn handle(mut self, socket: OwnedFd, taken: oneshot::Sender<u32>) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {}
                _ = self.stopped.wait_for(|stop| *stop) => break,
            }
            if let Some(why) = self.refusal {
                tracing::warn!("SIGHUP ignored: {why}");
                continue;
            }
            match self.hand_over(&socket).await {
                Ok(pid) => {
                    let _ = taken.send(pid);
                    break;
                }
                Err(e) => tracing::error!("handoff failed, this process serves on: {e:#}"),
            }
        }
        drop(socket);
        while self.hup.recv().await.is_some() {
            tracing::warn!("SIGHUP ignored: this process is stopping");
        }
    }

    /// Starts the new process and waits until it is ready: its id.
    async fn hand_over(&mut self, socket: &OwnedFd) -> anyhow::Result<u32> {
        let (reader, writer) = std::io::pipe()?;
        let mut command = tokio::process::Command::new(&self.exe.path);
        command
            .args(&self.exe.args)
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS_FIRST_FD")
            .env_remove("LISTEN_FDNAMES")
            .env(READY_FD_VAR, READY_FD.to_string())
            .env_remove(SECRET_CHECK_VAR);
        let check = self
            .secret_check
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(check) = check {
            command.env(SECRET_CHECK_VAR, check);
        }
        command.fd_mappings(vec![
            FdMapping {
                parent_fd: socket.try_clone()?,
                child_fd: LISTEN_FD,
            },
            FdMapping {
                parent_fd: writer.into(),
                child_fd: READY_FD,
            },
        ])?;
        let spawned = command.spawn();
        // Closes this process's ends: the pipe reads end-of-file if the new process exits.
        drop(command);
        let path = self.exe.path.display().to_string();
        let mut child = spawned.with_context(|| format!("starting {path}"))?;
        let pid = child.id().unwrap_or_default();
        tracing::info!(pid, exe = %path, "SIGHUP: started a new process to take over the socket; serving until it is ready");
        let ready = said_ready(reader);
        let deadline = tokio::time::sleep(READY_WAIT);
        tokio::pin!(ready, deadline);
        let failure = loop {
            tokio::select! {
                said = &mut ready => match said {
                    Ok(true) => {
                        tracing::info!(pid, "the new process is ready: stop accepting, drain, hand over the store");
                        return Ok(pid);
                    }
                    Ok(false) => break "exited before it was ready (see its log lines)",
                    Err(_) => break "could not be heard on its pipe",
                },
                _ = self.hup.recv() => tracing::warn!(pid, "SIGHUP ignored: a handoff is under way"),
                _ = self.stopped.wait_for(|stop| *stop) => break "was stopped: this process is stopping",
                () = &mut deadline => break "was not ready within 60 s",
            }
        };
        let _ = child.start_kill();
        let status = child
            .wait()
            .await
            .map(|s| s.to_string())
            .unwrap_or_default();
        bail!("the new process {pid} {failure}; it ended: {status}")
    }
}

/// Reads the pipe until a line: true if it says `ready`; false if it ends without one.
async fn said_ready(reader: PipeReader) -> std::io::Result<bool> {
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    let mut said = Vec::new();
    let mut buf = [0u8; 64];
    while !said.contains(&b'\n') && said.len() < 64 {
        match pipe.read(&mut buf).await? {
            0 => return Ok(false),
            n => said.extend_from_slice(&buf[..n]),
        }
    }
    Ok(said == READY)
}

/// The new process's side of a handoff: the pipe on which it says it is ready.
#[derive(Debug)]
pub struct Ready(RawFd);

impl Ready {
    /// The pipe that `PAYTREE_HANDOFF_READY_FD` names, if this process was started by a
    /// handoff.
    pub fn from_env() -> Option<Self> {
        let fd = std::env::var(READY_FD_VAR).ok()?;
        fd.parse().ok().map(Self)
    }

    /// Tells the old process that this one is ready to take over; if it cannot be told (it
    /// has gone), the store is free soon anyway.
    pub fn send(self) {
        if let Err(e) = self.write() {
            tracing::warn!(error = %e, "could not tell the process handing over that this one is ready");
        }
    }

    fn write(&self) -> std::io::Result<()> {
        // Reached through /dev/fd, the safe way to an inherited descriptor. Non-blocking:
        // opening a pipe whose reader has gone would otherwise wait for one forever.
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(format!("/dev/fd/{}", self.0))?;
        pipe.write_all(READY)
    }
}

/// The process id in `pid_file`.
pub fn read_pid(pid_file: &Path) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string(pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?;
    text.trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 0)
        .with_context(|| format!("{} does not hold a process id", pid_file.display()))
}

/// `paytree upgrade`: SIGHUP to the process in `pid_file`, then waits (at most `wait`) until
/// the file names another, which serves. The old and the new process ids.
pub fn upgrade(pid_file: &Path, wait: Duration) -> anyhow::Result<(u32, u32)> {
    let old = read_pid(pid_file)?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(old)?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP)
        .with_context(|| format!("sending SIGHUP to paytree {old}"))?;
    let started = Instant::now();
    while started.elapsed() < wait {
        std::thread::sleep(Duration::from_millis(50));
        match read_pid(pid_file) {
            Ok(new) if new != old => return Ok((old, new)),
            _ => {}
        }
    }
    bail!(
        "no new process took over within {} s; paytree {old} serves on unless it was stopped: its log says why",
        wait.as_secs()
    )
}
