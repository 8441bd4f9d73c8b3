//! Round trips of a batch, counted on the wire: a proxy between the store and the server
//! counts each time the store sends after the server has answered (pipelined statements go
//! out together, so they count once).

use crate::differential::build::*;
use crate::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Wire {
    round_trips: AtomicUsize,
    answered: AtomicBool,
}

impl Wire {
    fn take(&self) -> usize {
        self.round_trips.swap(0, Ordering::SeqCst)
    }
}

/// A proxy to `server` on a port of its own; what it counts.
async fn proxy(server: SocketAddr) -> (SocketAddr, Arc<Wire>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let wire = Arc::new(Wire::default());
    wire.answered.store(true, Ordering::SeqCst);
    let counted = wire.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = TcpStream::connect(server).await.unwrap();
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = upstream.into_split();
            let wire = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                    if wire.answered.swap(false, Ordering::SeqCst) {
                        wire.round_trips.fetch_add(1, Ordering::SeqCst);
                    }
                    if to_server.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let wire = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    // Marked before the client can see the answer and send again.
                    wire.answered.store(true, Ordering::SeqCst);
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (address, wire)
}

#[tokio::test]
async fn a_batch_of_one_registration_takes_four_round_trips() {
    let _serial = serial().await;
    let Some(url) = database("round trips").await else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP server, not {other:?}"),
    };
    let port = config.get_ports()[0];
    let server: SocketAddr = format!("{host}:{port}").parse().unwrap();
    let (address, wire) = proxy(server).await;
    let proxied = url.replacen(&format!("{host}:{port}"), &address.to_string(), 1);
    // One connection: the batch runs on the one that prepared its statements.
    let store = Postgres::connect(&proxied, 1).await.unwrap();
    let alice = customer("alice");
    let mut opening = Vec::new();
    for id in [1, 2, 3] {
        let base = format!("reg_{id}");
        wire.take();
        store
            .commit(&[open(&base, "n", &alice).into()])
            .await
            .unwrap();
        opening.push(wire.take());
        let register = register(id, &alice, intent(&base, "n"), Some(&format!("k{id}")));
        let outcome = store.commit(&[register.into()]).await.unwrap().remove(0);
        assert!(outcome.is_ok());
        // BEGIN; the checks; the savepoint and the writes; COMMIT.
        assert_eq!(wire.take(), 4, "round trips of a Register batch of one");
    }
    assert!(
        opening[0] > opening[1] && opening[1] == opening[2],
        "the connection's first batch prepares every statement, once: {opening:?}"
    );
}
