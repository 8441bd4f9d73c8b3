//! Requests spread over replicas as a load balancer spreads them: each to the next replica in
//! turn, passing over one that a request could not reach (it was killed) until the test puts
//! it back with its new address ([`Balancer::replace`]). A balancer that keeps a log notes
//! every request sent through [`super::TestApp::send`]: when, to which replica, and what it
//! got.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

/// The replicas' addresses, whose turn it is, and (if kept) the log.
#[derive(Default)]
pub struct Balancer {
    replicas: RwLock<Vec<Backend>>,
    next: AtomicUsize,
    log: Option<Mutex<Vec<Sent>>>,
}

struct Backend {
    address: String,
    /// A request to it failed to connect or was cut off: passed over until replaced.
    down: bool,
}

/// One request and what it got.
#[derive(Debug, Clone)]
pub struct Sent {
    pub answered: Instant,
    /// The replica's index.
    pub replica: usize,
    /// Not a GET.
    pub write: bool,
    /// Its `Idempotency-Key`, if it had one.
    pub key: Option<String>,
    pub outcome: Outcome,
    /// A 5xx's problem type.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    /// No connection (the replica was gone).
    Refused,
    /// Connected, but no answer came (the replica died with the request in flight).
    Cut,
}

impl Sent {
    /// A connection error or a 5xx.
    pub fn failed(&self) -> bool {
        match self.outcome {
            Outcome::Status(status) => status >= 500,
            Outcome::Refused | Outcome::Cut => true,
        }
    }

    /// A write answered 2xx.
    pub fn acknowledged(&self) -> bool {
        self.write && matches!(self.outcome, Outcome::Status(200..=299))
    }
}

impl Balancer {
    /// Over `addresses`, noting every request if `log`.
    pub fn new(addresses: Vec<String>, log: bool) -> Self {
        let replicas = addresses
            .into_iter()
            .map(|address| Backend {
                address,
                down: false,
            })
            .collect();
        Self {
            replicas: RwLock::new(replicas),
            next: AtomicUsize::new(0),
            log: log.then(Mutex::default),
        }
    }

    /// Replica `i`'s address.
    pub fn address(&self, i: usize) -> String {
        self.replicas.read().unwrap()[i].address.clone()
    }

    /// Whether there is more than one replica to go to.
    pub fn spreads(&self) -> bool {
        self.replicas.read().unwrap().len() > 1
    }

    /// The next replica's address (none is up: the next of all), or `None` without replicas.
    pub fn pick(&self) -> Option<String> {
        let replicas = self.replicas.read().unwrap();
        if replicas.len() < 2 {
            return None;
        }
        let up: Vec<&Backend> = replicas.iter().filter(|b| !b.down).collect();
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(match up.len() {
            0 => replicas[turn % replicas.len()].address.clone(),
            n => up[turn % n].address.clone(),
        })
    }

    /// The index of the replica at `url`'s origin, if it is one of them.
    fn index_of(&self, url: &reqwest::Url) -> Option<usize> {
        let origin = url.origin().ascii_serialization();
        let replicas = self.replicas.read().unwrap();
        replicas.iter().position(|b| b.address == origin)
    }

    /// Notes what a request to `url` got; one that could not reach its replica takes the
    /// replica out of the turns.
    pub fn note(
        &self,
        url: &reqwest::Url,
        write: bool,
        key: Option<String>,
        outcome: Outcome,
        problem: Option<String>,
    ) {
        let Some(replica) = self.index_of(url) else {
            return;
        };
        if outcome == Outcome::Refused || outcome == Outcome::Cut {
            self.replicas.write().unwrap()[replica].down = true;
        }
        if let Some(log) = &self.log {
            log.lock().unwrap().push(Sent {
                answered: Instant::now(),
                replica,
                write,
                key,
                outcome,
                problem,
            });
        }
    }

    /// Replica `i` serves again at `address` (it was started again).
    pub fn replace(&self, i: usize, address: String) {
        self.replicas.write().unwrap()[i] = Backend {
            address,
            down: false,
        };
    }

    /// Every request noted so far, in the order they were answered.
    pub fn log(&self) -> Vec<Sent> {
        self.log
            .as_ref()
            .map(|log| log.lock().unwrap().clone())
            .unwrap_or_default()
    }
}
