//! Clients under load while paytree restarts: each registers payment methods and reads each
//! back, one request after another, on a kept-alive connection of its own (reqwest's pool),
//! and keeps every failure, every acknowledged registration and every request's latency.

use super::{TestApp, VISA};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Far longer than any restart takes: a request still unanswered then is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Clients running against one address until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: JoinSet<Outcome>,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Registrations answered 201: (id, customer).
    pub acknowledged: Vec<(u64, String)>,
    /// Requests answered with a status other than the one expected, as `status: body`.
    pub failed: Vec<String>,
    /// Requests that got no answer: refused or reset connections, closed before an answer,
    /// timeouts.
    pub connection_errors: Vec<String>,
    /// Every answered request: when it was sent and how long it took.
    pub requests: Vec<(Instant, Duration)>,
}

impl Load {
    /// Starts `clients` clients on `app`'s address, with its key.
    pub fn start(app: &TestApp, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = JoinSet::new();
        for n in 0..clients {
            let client = Client::builder()
                .default_headers(super::app::auth_headers(app.key.as_deref()))
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap();
            let customer = format!("load-{n}");
            let (base, stop) = (app.address.clone(), stop.clone());
            set.spawn(run_client(client, base, customer, stop));
        }
        Self { stop, clients: set }
    }

    /// Stops the clients (each ends its request in progress) and adds up what they saw.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Outcome::default();
        for outcome in self.clients.join_all().await {
            all.acknowledged.extend(outcome.acknowledged);
            all.failed.extend(outcome.failed);
            all.connection_errors.extend(outcome.connection_errors);
            all.requests.extend(outcome.requests);
        }
        all
    }
}

async fn run_client(
    client: Client,
    base: String,
    customer: String,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let mut seen = Outcome::default();
    let body = json!({"customerId": customer, "kind": "card", "number": VISA});
    while !stop.load(Ordering::SeqCst) {
        let register = client.post(format!("{base}/paymethods")).json(&body);
        let Some(made) = seen.send(register, StatusCode::CREATED).await else {
            continue;
        };
        let id = made["id"].as_u64().unwrap();
        seen.acknowledged.push((id, customer.clone()));
        let read = client.get(format!("{base}/paymethods/{id}"));
        if let Some(read) = seen.send(read, StatusCode::OK).await {
            assert_eq!(read["id"], id, "{read}");
        }
    }
    seen
}

impl Outcome {
    /// Sends `request`; its body if it was answered `expected`, else the failure is kept.
    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Option<Value> {
        let sent = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                self.connection_errors.push(format!("{e:?}"));
                return None;
            }
        };
        let status = response.status();
        let body = response.text().await;
        self.requests.push((sent, sent.elapsed()));
        match body {
            Ok(body) if status == expected => Some(serde_json::from_str(&body).unwrap()),
            Ok(body) => {
                self.failed.push(format!("{status}: {body}"));
                None
            }
            Err(e) => {
                self.connection_errors.push(format!("{status}, then {e:?}"));
                None
            }
        }
    }

    /// The longest time a request took that was in flight during one of `windows`.
    pub fn longest_during(&self, windows: &[(Instant, Instant)]) -> Duration {
        self.requests
            .iter()
            .filter(|(sent, took)| {
                windows
                    .iter()
                    .any(|(from, to)| *sent <= *to && *sent + *took >= *from)
            })
            .map(|(_, took)| *took)
            .max()
            .unwrap_or_default()
    }

    /// Asserts that every acknowledged registration is stored, read through `app`.
    pub async fn assert_all_stored(&self, app: &TestApp) {
        let mut reads = JoinSet::new();
        for chunk in self.acknowledged.chunks(self.acknowledged.len() / 16 + 1) {
            let (app, chunk) = (app.clone(), chunk.to_vec());
            reads.spawn(async move {
                for (id, customer) in chunk {
                    let stored = app.paymethod(id).await;
                    assert_eq!(stored["customerId"], customer, "{stored}");
                }
            });
        }
        reads.join_all().await;
    }

    /// One line for people: counts, and the first failures of each kind.
    pub fn summary(&self) -> String {
        format!(
            "{} requests answered, {} registrations acknowledged, {} failed ({:?}), {} connection errors ({:?})",
            self.requests.len(),
            self.acknowledged.len(),
            self.failed.len(),
            self.failed.iter().take(3).collect::<Vec<_>>(),
            self.connection_errors.len(),
            self.connection_errors.iter().take(3).collect::<Vec<_>>(),
        )
    }
}
