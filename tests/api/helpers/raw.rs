//! Raw TCP for what no HTTP client does on purpose: a request that stalls, a connection kept
//! open and watched until the server closes it.

use super::TestApp;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

/// Far more than any bound under test takes, so that only a missing bound fails a test.
pub const GENEROUS: Duration = Duration::from_secs(10);

pub async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.split("://").nth(1).unwrap();
    TcpStream::connect(addr).await.unwrap()
}

/// Everything the server sends until it closes the connection, and how long that took;
/// panics if it keeps it open past `GENEROUS`.
pub async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GENEROUS, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after {GENEROUS:?}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&seen).into_owned(),
        started.elapsed(),
    )
}

/// One response on a kept-alive connection: reads until the body's `Content-Length` is in.
pub async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if body.len() >= length {
                return text;
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a whole response: {text:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

pub const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: paytree\r\n\r\n";

/// The head of a registration (with the admin key) that promises 100 bytes of body, and the
/// first few of them.
pub fn stalled_body(app: &TestApp) -> Vec<u8> {
    let key = app.key.as_deref().unwrap();
    format!(
        "POST /paymethods HTTP/1.1\r\nHost: paytree\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"customerId\":"
    )
    .into_bytes()
}
