//! `spawn_provider()`: the simulated payment system (`paytree provider`) served in this
//! process on 127.0.0.1:0, driven over HTTP like the separate service.

use paytree::provider::Simulator;
use reqwest::Client;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running simulated payment system.
pub struct TestProvider {
    pub address: String,
    client: Client,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<()>,
}

pub async fn spawn_provider() -> TestProvider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stop) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let stopped = async {
            let _ = stop.await;
        };
        paytree::app::run_provider(listener, Arc::new(Simulator::default()), stopped)
            .await
            .expect("the payment system serves");
    });
    TestProvider {
        address,
        client: Client::new(),
        shutdown,
        served,
    }
}

impl TestProvider {
    pub async fn set_faults(&self, faults: Value) {
        let r = self
            .client
            .put(format!("{}/v1/faults", self.address))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    pub async fn ledger(&self) -> Value {
        self.get("/v1/ledger").await
    }

    /// `{"authorizationCalls", "lookupCalls", "refundCalls"}`: the calls that reached it.
    pub async fn stats(&self) -> Value {
        self.get("/v1/stats").await
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Takes it away: returns once its port is closed and its connections are gone, so the
    /// next call to it cannot connect.
    pub async fn kill(self) {
        let _ = self.shutdown.send(());
        self.served.await.unwrap();
    }
}
