//! Both stores side by side: the same commands to each, their outcomes compared (then every
//! read, `agree.rs`).

use super::mask::masked_intents;
use crate::store;
use paytree::domain::intent::Intent;
use paytree::domain::{CustomerId, Event, Position, Timestamp};
use paytree::store::postgres::Postgres;
use paytree::store::{Advance, Checkpoint, Command, Cursor, Outcome, Redb, Rejected};

pub struct Both {
    pub redb: Redb,
    pub pg: Postgres,
    pub url: String,
    /// Customers, idempotency keys and skus the comparisons look up.
    pub customers: Vec<CustomerId>,
    pub keys: Vec<&'static str>,
    pub skus: Vec<&'static str>,
    _dir: tempfile::TempDir,
}

impl Both {
    /// An empty embedded store and a fresh database, or `None` (SKIPPED) without a server.
    pub async fn new(test: &str) -> Option<Self> {
        let (pg, url) = store(test).await?;
        let dir = tempfile::TempDir::new().unwrap();
        let redb = Redb::open(&dir.path().join("t.redb")).unwrap();
        Some(Self {
            redb,
            pg,
            url,
            customers: ["alice", "bob", "carol"]
                .map(super::build::customer)
                .to_vec(),
            keys: vec!["k1", "k2", "k3", "k4", "k5"],
            skus: vec!["tea", "cup", "pot", "zzz"],
            _dir: dir,
        })
    }

    /// Commits `commands` to both; their outcomes, which must be equal.
    pub async fn commit(&self, commands: &[Command]) -> Vec<Result<Outcome, Rejected>> {
        self.commit_each(commands, commands).await
    }

    /// Commits `redb` to the embedded store and `pg` (the same commands but for what they
    /// read back from their own store) to PostgreSQL; the outcomes, which must be equal.
    pub async fn commit_each(
        &self,
        redb: &[Command],
        pg: &[Command],
    ) -> Vec<Result<Outcome, Rejected>> {
        // Each commit at a later millisecond than the last, in both stores: what is ordered
        // by a time the store sets keeps the same order in both.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let embedded = self.redb.commit(redb).unwrap();
        let postgres = self.pg.commit(pg).await.unwrap();
        assert_eq!(embedded, postgres, "outcomes of {redb:#?}");
        embedded
    }

    /// Commits one command to both; its outcome.
    pub async fn one(&self, command: impl Into<Command>) -> Result<Outcome, Rejected> {
        self.commit(&[command.into()]).await.remove(0)
    }

    /// The log reader `reader`'s move from where its checkpoint is to `to`.
    pub fn advance(&self, reader: &str, to: u64) -> Advance {
        Advance {
            from: self.redb.checkpoint(reader).unwrap().at,
            to: Checkpoint {
                at: Cursor::at(Position(to)),
                stream: 0,
            },
        }
    }

    /// Every event of the embedded store, in log order.
    pub fn events(&self) -> Vec<Event> {
        self.redb.events_after(Position(0), usize::MAX).unwrap()
    }

    /// Both stores' open intents, oldest first (each with its own open times).
    pub async fn intents(&self) -> (Vec<Intent>, Vec<Intent>) {
        let all = Timestamp(i64::MAX);
        let redb = self.redb.open_intents_before(all, None, 100).unwrap();
        let pg = self.pg.open_intents_before(all, None, 100).await.unwrap();
        assert_eq!(masked_intents(redb.clone()), masked_intents(pg.clone()));
        (redb, pg)
    }
}
