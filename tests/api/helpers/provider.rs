//! `spawn_provider()`: the simulated payment system (`paytree provider`) served in this
//! process on 127.0.0.1:0, driven over HTTP like the separate service.

use paytree::app::ProviderOptions;
use paytree::provider::Simulator;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running simulated payment system.
pub struct TestProvider {
    pub address: String,
    client: Client,
    /// The key it asks for, which this handle sends.
    key: Option<String>,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<()>,
}

pub async fn spawn_provider() -> TestProvider {
    spawn_provider_with(ProviderOptions::default(), Client::new()).await
}

/// With HTTPS and a key as `options` say; `client` must trust its certificate.
pub async fn spawn_provider_with(options: ProviderOptions, client: Client) -> TestProvider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = options.server().scheme();
    let address = format!("{scheme}://{}", listener.local_addr().unwrap());
    let key = options.api_key.as_ref().map(|k| k.expose().to_owned());
    let (shutdown, stop) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let stopped = async {
            let _ = stop.await;
        };
        let sim = Arc::new(Simulator::default());
        paytree::app::run_provider_with(listener, sim, options, stopped)
            .await
            .expect("the payment system serves");
    });
    TestProvider {
        address,
        client,
        key,
        shutdown,
        served,
    }
}

impl TestProvider {
    /// A request to `path`, with the key if it asks for one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.address));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    pub async fn set_faults(&self, faults: Value) {
        let r = self
            .request(Method::PUT, "/v1/faults")
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
        self.request(Method::GET, path)
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
