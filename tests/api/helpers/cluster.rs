//! N replicas of the `paytree` binary as child processes on one fresh PostgreSQL database and
//! one JetStream stream, for what needs a process per replica (kill -9): started one after
//! the other on one data dir (the first makes the secret and the admin key), killed and
//! started again, with what the store says of them (who holds which lease, where each
//! reader is, whether the readers have caught up) and what the stream holds. Needs
//! `PAYTREE_TEST_POSTGRES_URL` and `PAYTREE_TEST_NATS_URL` (see [`super::replicas::fresh`]).

use super::replicas::{self, Shared};
use super::{TestApp, TestProcess, audit, start_serve};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio_postgres::Client;

pub struct Cluster {
    pub shared: Shared,
    /// Replica `i`'s running process, if it runs.
    processes: Vec<Option<TestProcess>>,
    /// The processes killed (for their logs), with their replica's index.
    killed: Vec<(usize, TestProcess)>,
    /// A handle on every replica, through a balancer that notes every request.
    app: TestApp,
    db: Client,
    flags: Vec<String>,
    dir: PathBuf,
    _temp: TempDir,
}

/// A reader's (or the relay's) place in the log: (xid, position).
pub type Cursor = (String, i64);

impl Cluster {
    /// `n` replicas with `flags` besides the store's and the events', or `None` without a
    /// PostgreSQL and a NATS server to run on.
    pub async fn start(n: usize, flags: &[&str]) -> Option<Cluster> {
        let shared = replicas::fresh(n).await?;
        let (db, connection) = tokio_postgres::connect(&shared.store, tokio_postgres::NoTls)
            .await
            .expect("connecting to the test's database");
        tokio::spawn(connection);
        let temp = TempDir::new().unwrap();
        let dir = temp.path().join("data");
        let mut all: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        all.extend(["--store", &shared.store, "--events", &shared.events].map(str::to_owned));
        let mut processes = Vec::new();
        for _ in 0..n {
            // One after the other: the first makes the secret and the admin key.
            let flags: Vec<&str> = all.iter().map(String::as_str).collect();
            processes.push(Some(start_serve(&dir, &flags).await));
        }
        let addresses = processes.iter().flatten().map(|p| p.address.clone());
        let app = TestApp::remote_replicas(addresses.collect(), dir.clone());
        Some(Cluster {
            shared,
            processes,
            killed: Vec::new(),
            app,
            db,
            flags: all,
            dir,
            _temp: temp,
        })
    }

    /// A handle that spreads its requests over the replicas that are up.
    pub fn app(&self) -> TestApp {
        self.app.clone()
    }

    /// The replicas' count.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Replica `i`'s process id (it must run).
    pub fn pid(&self, i: usize) -> u32 {
        self.processes[i].as_ref().expect("replica runs").pid()
    }

    /// `kill -9` replica `i`.
    pub async fn kill(&mut self, i: usize) {
        let mut process = self.processes[i].take().expect("replica runs");
        process.kill().await;
        self.killed.push((i, process));
    }

    /// Starts replica `i` again (on a new port); the balancer sends to it from now on.
    pub async fn restart(&mut self, i: usize) {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        let process = start_serve(&self.dir, &flags).await;
        self.app.replace_replica(i, process.address.clone());
        self.processes[i] = Some(process);
    }

    /// The leases in force, and the process id of each one's holder (a holder is
    /// `<hostname>-<pid>-<hex>`).
    pub async fn leases(&self) -> BTreeMap<String, u32> {
        let rows = self
            .db
            .query(
                "SELECT name, holder FROM leases WHERE expires_at > clock_timestamp()",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                let holder: String = row.get(1);
                let pid = holder.rsplit('-').nth(1).and_then(|p| p.parse().ok());
                (row.get(0), pid.unwrap_or_else(|| panic!("holder {holder}")))
            })
            .collect()
    }

    /// The running replica whose process holds lease `name`, if one does.
    pub async fn holder_of(&self, name: &str) -> Option<usize> {
        let pid = *self.leases().await.get(name)?;
        (0..self.len()).find(|&i| self.processes[i].as_ref().is_some_and(|p| p.pid() == pid))
    }

    /// Every reader's (and the relay's) cursor.
    pub async fn cursors(&self) -> BTreeMap<String, Cursor> {
        let rows = self
            .db
            .query("SELECT name, xid::text, position FROM cursors", &[])
            .await
            .unwrap();
        rows.iter()
            .map(|row| (row.get(0), (row.get(1), row.get(2))))
            .collect()
    }

    /// The last event in the order readers take them.
    async fn head(&self) -> Option<Cursor> {
        let sql = "SELECT xid::text, position FROM events ORDER BY events.xid DESC, position DESC LIMIT 1";
        let row = self.db.query_opt(sql, &[]).await.unwrap();
        row.map(|row| (row.get(0), row.get(1)))
    }

    /// A count the store answers (`SELECT count(*) …`).
    async fn count(&self, sql: &str) -> i64 {
        self.db.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// Waits until every intent is reconciled and every refund owed made, the saga and
    /// shipping have read the whole log and the saga has no step left (twice in a row,
    /// since a step carried out writes events), then marks the head as
    /// [`audit::mark_the_head`] does. Panics after a minute.
    pub async fn settle(&self) {
        let mut settled_once = false;
        for _ in 0..600 {
            let head = self.head().await;
            let cursors = self.cursors().await;
            let caught_up = ["saga", "shipping"]
                .iter()
                .all(|r| cursors.get(*r) == head.as_ref());
            let open = self.count("SELECT count(*) FROM intents").await
                + self.count("SELECT count(*) FROM refunds_owed").await
                + self.count("SELECT count(*) FROM saga_steps").await;
            let settled = caught_up && open == 0;
            if settled && settled_once {
                audit::mark_the_head(&self.app).await;
                return;
            }
            settled_once = settled;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the replicas did not settle in a minute: head {:?}, cursors {:?}, saga steps {}, intents {}, refunds owed {}; what they warned of:\n{}",
            self.head().await,
            self.cursors().await,
            self.count("SELECT count(*) FROM saga_steps").await,
            self.count("SELECT count(*) FROM intents").await,
            self.count("SELECT count(*) FROM refunds_owed").await,
            self.warnings()
        );
    }

    /// The last lines each replica's process (running or killed) logged at ERROR, and at
    /// WARN, and every line of the relay's.
    pub fn warnings(&self) -> String {
        let running = self.processes.iter().enumerate();
        let running = running.filter_map(|(i, p)| p.as_ref().map(|p| (i, p)));
        let killed = self.killed.iter().map(|(i, p)| (*i, p));
        let mut all = String::new();
        for (i, process) in killed.chain(running) {
            let log = process.log();
            for (level, most) in [("ERROR", 30), ("WARN", 10), ("relay", 50)] {
                let lines: Vec<&str> = log.lines().filter(|l| l.contains(level)).collect();
                for line in &lines[lines.len().saturating_sub(most)..] {
                    all += &format!("replica {i}: {line}\n");
                }
            }
        }
        all
    }

    /// Waits (at most `patience`) until each of `held` (a lease and its cursor when its
    /// holder was killed) is held by another process and its cursor has moved on: how long
    /// after `since` each was, and by which replica (`None`: not within `patience`).
    pub async fn takeovers(
        &self,
        dead: u32,
        held: &BTreeMap<String, Cursor>,
        since: Instant,
        patience: Duration,
    ) -> BTreeMap<String, Option<(Duration, usize)>> {
        let mut resumed: BTreeMap<String, Option<(Duration, usize)>> =
            held.keys().map(|name| (name.clone(), None)).collect();
        while resumed.values().any(Option::is_none) && since.elapsed() < patience {
            let (leases, cursors) = (self.leases().await, self.cursors().await);
            for (name, at_kill) in held {
                // A lease without a cursor (the reconciler's) is taken over once a survivor
                // holds it; a reader's or the relay's once its cursor moved too.
                let moved = cursors.get(name).is_none_or(|c| c != at_kill);
                let holder = leases.get(name).filter(|pid| **pid != dead);
                let replica = holder.and_then(|pid| {
                    (0..self.len())
                        .find(|&i| self.processes[i].as_ref().is_some_and(|p| p.pid() == *pid))
                });
                if let (true, Some(replica), None) = (moved, replica, resumed[name]) {
                    resumed.insert(name.clone(), Some((since.elapsed(), replica)));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        resumed
    }

    /// The stream against the log: every event published once, in the order readers take
    /// them (the relay's promise, whoever held its lease when).
    pub async fn stream_report(&self) -> StreamReport {
        let stream = self.stream().await;
        let last = stream.get_info().await.unwrap().state.last_sequence;
        let mut published = Vec::new();
        for sequence in 1..=last {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let header = |name: &str| -> i64 {
                let value = message.headers.get(name).expect("paytree's header");
                value.as_str().parse().unwrap()
            };
            published.push((header("Paytree-Xid"), header("Paytree-Position")));
        }
        let rows = self
            .db
            .query(
                "SELECT xid::text::bigint, position FROM events ORDER BY events.xid, position",
                &[],
            )
            .await
            .unwrap();
        let logged: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        for (i, w) in published.windows(2).enumerate() {
            if w[1] < w[0] {
                let around = &published[i.saturating_sub(3)..(i + 5).min(published.len())];
                eprintln!("stream out of order at sequence {}: {around:?}", i + 2);
                let sql = "SELECT xid::text, position, recorded_at::text FROM events
                           WHERE position = ANY($1) ORDER BY position";
                let near: Vec<i64> = (-2..=2).flat_map(|d| [w[0].1 + d, w[1].1 + d]).collect();
                for row in self.db.query(sql, &[&near]).await.unwrap() {
                    let (x, p, at): (String, i64, String) = (row.get(0), row.get(1), row.get(2));
                    eprintln!("  event {p}: xid {x} recorded {at}");
                }
                for seq in [
                    i as u64 - 1,
                    i as u64,
                    i as u64 + 1,
                    i as u64 + 2,
                    i as u64 + 3,
                ] {
                    if let Ok(m) = stream.get_raw_message(seq).await {
                        eprintln!(
                            "  message {seq}: {:?} {}",
                            m.headers.get("Paytree-Position"),
                            m.time
                        );
                    }
                }
            }
        }
        let distinct: std::collections::BTreeSet<_> = published.iter().copied().collect();
        StreamReport {
            events: logged.len(),
            messages: published.len(),
            missing: logged.iter().filter(|e| !distinct.contains(e)).count(),
            duplicated: published.len() - distinct.len(),
            out_of_order: published.windows(2).filter(|w| w[1] < w[0]).count(),
        }
    }

    /// Publishes the stream's message `sequence` again as a new message (another
    /// `Nats-Msg-Id`, so JetStream keeps it): an event published twice, for the negative
    /// control of [`Cluster::stream_report`].
    pub async fn publish_again(&self, sequence: u64) {
        let stream = self.stream().await;
        let message = stream.get_raw_message(sequence).await.unwrap();
        let mut headers = message.headers.clone();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, "published again");
        let (server, _) = paytree::bus::events_url(&self.shared.events).unwrap();
        let js = async_nats::jetstream::new(async_nats::connect(server).await.unwrap());
        let subject = message.subject.to_string();
        js.publish_with_headers(subject, headers, message.payload)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    async fn stream(&self) -> async_nats::jetstream::stream::Stream {
        let (server, name) = paytree::bus::events_url(&self.shared.events).unwrap();
        let js = async_nats::jetstream::new(async_nats::connect(server).await.unwrap());
        js.get_stream(&name).await.unwrap()
    }
}

/// What the stream holds against the event log.
#[derive(Debug, Default)]
pub struct StreamReport {
    pub events: usize,
    pub messages: usize,
    /// Events the stream does not have.
    pub missing: usize,
    /// Messages beyond one per event.
    pub duplicated: usize,
    /// Messages that come after one later in the log's order.
    pub out_of_order: usize,
}
