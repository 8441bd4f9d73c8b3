//! What paytree tells systemd when a `Type=notify` unit runs it (`sd_notify`): `READY=1` once
//! it serves, `STOPPING=1` when it starts to shut down. One datagram to `$NOTIFY_SOCKET`;
//! without that variable (not under systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;

/// Whether systemd waits for [`notify`]: the service is `Type=notify`.
pub fn is_notified() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Sends `state` (such as `READY=1`) to systemd, if it listens; a failure is logged.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&path, state) {
        tracing::warn!(error = %e, state, "could not notify systemd");
    }
}

fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    // A leading `@` names a socket in the abstract namespace (Linux).
    #[cfg(target_os = "linux")]
    if let Some(name) = path.as_encoded_bytes().strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        return socket.send_to_addr(state.as_bytes(), &address);
    }
    socket.send_to(state.as_bytes(), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reaches_the_socket_named_by_its_path() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
