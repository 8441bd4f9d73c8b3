//! The server's bounds on slow and numerous clients, driven with raw TCP connections (no
//! HTTP client would misbehave on purpose): a stalled request head or body, connections past
//! the most; and the client's address on every request. What happens at SIGTERM is in
//! `drain.rs`.

use crate::helpers::*;
use axum::extract::{ConnectInfo, Request};
use paytree::serve::Server;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_client_that_stalls_in_its_request_head_is_disconnected_after_the_header_timeout() {
    let app = spawn_app_with(&["--header-timeout-ms", "300"]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: pay")
        .await
        .unwrap();
    let (answer, took) = read_until_closed(&mut stream).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(!answer.contains("200 OK"), "{answer}");
    // One that sends nothing at all is no different.
    let mut silent = connect(&app).await;
    let (_, took) = read_until_closed(&mut silent).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
    // A client that sends its head in time is served.
    assert_eq!(app.health().await.status(), 200);
}

#[tokio::test]
async fn a_client_that_stalls_in_the_tls_handshake_is_disconnected_after_the_header_timeout() {
    let certs = test_certs();
    let flags = [&certs.serve_flags()[..], &["--header-timeout-ms", "300"]].concat();
    let app = spawn_app_with(&flags).await;
    // The first bytes of a ClientHello (a TLS 1.x handshake record), then nothing.
    let mut stream = connect(&app).await;
    stream
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])
        .await
        .unwrap();
    let (answer, took) = read_until_closed(&mut stream).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(answer.is_empty(), "{answer:?}");
    let mut silent = connect(&app).await;
    let (_, took) = read_until_closed(&mut silent).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_is_answered_408_as_a_problem_and_disconnected() {
    let app = spawn_app_with(&["--body-timeout-ms", "300"]).await;
    let mut stream = connect(&app).await;
    stream.write_all(&stalled_body(&app)).await.unwrap();
    let (answer, took) = read_until_closed(&mut stream).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(answer.contains(r#""status":408"#), "{answer}");
    assert!(
        answer.contains(r#""type":"/problems/request-timeout""#),
        "{answer}"
    );
    // Nothing was registered, and a whole body in time is served as usual.
    assert_eq!(app.list("stalled").await["items"], serde_json::json!([]));
    app.register_ok("prompt", VISA).await;
}

#[tokio::test]
async fn connections_past_the_most_wait_unaccepted_until_one_closes() {
    let app = spawn_app_with(&["--max-connections", "2", "--header-timeout-ms", "30000"]).await;
    // Two kept-alive connections, each served once: both are accepted and stay open.
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    for stream in [&mut first, &mut second] {
        stream.write_all(HEALTHZ).await.unwrap();
        let answer = read_response(stream).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    }
    // A third connects (the kernel's backlog takes it) but is not served...
    let mut third = connect(&app).await;
    third.write_all(HEALTHZ).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut byte)).await;
    assert!(early.is_err(), "the third connection was served: {early:?}");
    // ...until one of the two closes.
    drop(first);
    let answer = tokio::time::timeout(GENEROUS, read_response(&mut third))
        .await
        .expect("served once a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    second.write_all(HEALTHZ).await.unwrap();
    assert!(
        read_response(&mut second)
            .await
            .starts_with("HTTP/1.1 200 ")
    );
}

/// What the per-client limits of the API read: the address of the client on every request.
async fn echo_peer(request: Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.to_string())
        .unwrap_or_else(|| "none".to_owned())
}

/// Serves `router` on 127.0.0.1:0 for the rest of the test; the address.
async fn spawn_server(server: Server, router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve(listener, router, std::future::pending()).await });
    addr
}

/// `GET /peer` on a connection of its own: the whole answer.
async fn ask_peer(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> String {
    let request = b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream.write_all(request).await.unwrap();
    read_until_closed(stream).await.0
}

#[tokio::test]
async fn every_request_carries_the_clients_address_over_http_and_https() {
    let certs = test_certs();
    let router = axum::Router::new().route("/peer", axum::routing::get(echo_peer));

    let addr = spawn_server(Server::default(), router.clone()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let me = tcp.local_addr().unwrap();
    let answer = ask_peer(&mut tcp).await;
    assert!(answer.ends_with(&format!("\r\n\r\n{me}")), "{me}: {answer}");

    let https = Server {
        tls: Some(certs.server_tls()),
        ..Server::default()
    };
    let addr = spawn_server(https, router).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let me = tcp.local_addr().unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = certs.connector().connect(name, tcp).await.unwrap();
    let answer = ask_peer(&mut tls).await;
    assert!(answer.ends_with(&format!("\r\n\r\n{me}")), "{me}: {answer}");
}

#[tokio::test]
async fn after_sigterm_readiness_fails_while_requests_are_still_served_for_the_unready_grace() {
    let mut app = spawn_process_with(&["--shutdown-unready-ms", "1500"]).await;
    assert_eq!(app.ready().await.status(), 200);
    app.terminate();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ready = app.ready().await;
    assert_eq!(ready.status(), 503, "a balancer sees readiness fail");
    // Still accepting and serving meanwhile, new connections included.
    let fresh = reqwest::Client::new();
    let health = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let r = app.register("sigrid", "card", VISA).await;
    assert_eq!(r.status(), 201, "commands too");
    let status = app.stop().await;
    assert!(status.success(), "{status:?}");
    assert!(
        app.log().contains("readiness off, still accepting"),
        "{}",
        app.log()
    );
}
