//! The key registry: every key's record in memory, by hash, so authenticating a request is
//! one HMAC and one map lookup. The store is the record; this is its copy, changed only
//! after the store has committed (so a revocation is in force as soon as it is answered).

use super::limits::{RateLimited, refusal};
use super::record::{AuditEntry, KeyRecord, action};
use super::{ApiKey, KeyHasher, KeyId, Role};
use crate::actors::kernel::Writer;
use crate::domain::{CustomerId, Timestamp};
use crate::store::{CreateKey, RecordAudit, RevokeKey, Store, StoreError, TouchKeys};
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the last use of keys is written to the store.
const LAST_USE_EVERY: Duration = Duration::from_secs(10);

/// The registry; cheap to clone.
#[derive(Clone)]
pub struct Keys {
    inner: Arc<Inner>,
}

struct Inner {
    hasher: KeyHasher,
    table: RwLock<Table>,
    writer: Writer,
    /// Each key's token bucket (`None`: no per-key limit).
    quota: Option<Quota>,
    /// With replicas (PostgreSQL), the store: another replica may make or revoke a key, so
    /// each request reads its key's record, and the table is only where the key's bucket
    /// and last use are kept.
    shared: Option<Store>,
}

#[derive(Default)]
struct Table {
    by_hash: HashMap<String, Arc<Entry>>,
    by_id: BTreeMap<KeyId, String>,
}

/// One key as requests see it: its record when last stored, its last use and its bucket.
struct Entry {
    record: KeyRecord,
    /// Milliseconds since the epoch of the last request with this key (0: none yet).
    last_used: AtomicI64,
    /// The last use that has been written to the store.
    flushed: AtomicI64,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// The key a request was authenticated with.
#[derive(Clone)]
pub struct Caller(Arc<Entry>);

impl Caller {
    pub fn key_id(&self) -> &KeyId {
        &self.0.record.id
    }

    /// The key's record (never the key itself: paytree does not keep it).
    pub fn record(&self) -> &super::KeyRecord {
        &self.0.record
    }

    pub fn role(&self) -> Role {
        self.0.record.role
    }

    /// The customer a `customer` key is bound to.
    pub fn customer(&self) -> Option<&CustomerId> {
        self.0.record.customer_id.as_ref()
    }

    /// Takes one request from this key's bucket.
    pub fn take_request(&self) -> Result<(), RateLimited> {
        match &self.0.limiter {
            Some(limiter) => limiter.check().map_err(refusal),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Caller({}, {})", self.key_id(), self.role().as_str())
    }
}

/// A key to make.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub role: Role,
    pub customer_id: Option<CustomerId>,
    pub name: String,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no such key")]
    NotFound,
    /// A key may not revoke itself: revoking the last admin key would lock every admin out.
    #[error("a key cannot revoke itself")]
    OwnKey,
    /// The store did not confirm the write: nothing changed as far as the caller knows.
    #[error("the store could not record it")]
    Unavailable,
}

impl Keys {
    /// Every stored key, with per-key buckets of `rate_per_second` (bursts of twice it; 0:
    /// no per-key limit).
    pub async fn load(
        store: &Store,
        hasher: KeyHasher,
        writer: Writer,
        rate_per_second: u32,
    ) -> Result<Self, StoreError> {
        let quota = NonZeroU32::new(rate_per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
            Quota::per_second(rate).allow_burst(burst)
        });
        let keys = Self {
            inner: Arc::new(Inner {
                hasher,
                table: RwLock::default(),
                writer,
                quota,
                shared: store.bus_log().map(|_| store.clone()),
            }),
        };
        for record in store.keys().await? {
            keys.insert(record);
        }
        Ok(keys)
    }

    /// The caller that `key` authenticates, if it is known, not revoked and not expired (with
    /// replicas, as the store has it now).
    pub async fn authenticate(&self, key: &ApiKey) -> Result<Option<Caller>, StoreError> {
        let hash = self.inner.hasher.hash(key);
        if let Some(store) = &self.inner.shared {
            match store.api_key(&hash).await? {
                Some(record) => self.keep(record),
                None => return Ok(None),
            }
        }
        Ok(self.known(&hash))
    }

    /// The caller whose key hashes to `hash`, as the table has it.
    fn known(&self, hash: &str) -> Option<Caller> {
        let entry = self.read().by_hash.get(hash).cloned()?;
        let now = Timestamp::now();
        if !entry.record.usable_at(now) {
            return None;
        }
        // Written only when the millisecond changed: the entry is shared by every request
        // with this key, so a write on each would move its cache line between cores.
        if entry.last_used.load(Ordering::Relaxed) < now.0 {
            entry.last_used.fetch_max(now.0, Ordering::Relaxed);
        }
        Some(Caller(entry))
    }

    /// Makes a key for `by` (an admin) and records the action in the same commit. The
    /// plaintext is in the answer and nowhere else.
    pub async fn create(&self, by: &Caller, new: NewKey) -> Result<(ApiKey, KeyRecord), KeyError> {
        let key = ApiKey::generate();
        let record = record_of(&self.inner.hasher, &key, new);
        let audit = audit(by, action::KEY_CREATED, record.id.as_str());
        let command = CreateKey {
            record: record.clone(),
            audit: Some(audit),
        };
        self.write(command).await?;
        self.insert(record.clone());
        Ok((key, record))
    }

    /// Revokes key `id` for `by` (another key); a revoked key is refused from the answer on.
    /// Revoking a revoked key changes nothing and succeeds.
    pub async fn revoke(&self, by: &Caller, id: &KeyId) -> Result<(), KeyError> {
        if by.key_id() == id {
            return Err(KeyError::OwnKey);
        }
        self.catch_up().await?;
        let entry = {
            let table = self.read();
            let hash = table.by_id.get(id).ok_or(KeyError::NotFound)?;
            table.by_hash.get(hash).cloned().ok_or(KeyError::NotFound)?
        };
        if entry.record.revoked_at.is_some() {
            return Ok(());
        }
        let at = Timestamp::now();
        let command = RevokeKey {
            id: id.clone(),
            at,
            audit: audit(by, action::KEY_REVOKED, id.as_str()),
        };
        self.write(command).await?;
        let mut record = entry.record.clone();
        record.revoked_at = Some(at);
        self.insert(record);
        Ok(())
    }

    /// Records an admin action that changes nothing stored itself.
    pub async fn record(&self, by: &Caller, action: &str, target: &str) -> Result<(), KeyError> {
        let audit = audit(by, action, target);
        self.write(RecordAudit { audit }).await
    }

    /// Keys by id after `after`, at most `limit`, with their last use; and whether more follow.
    pub async fn list(
        &self,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<(Vec<KeyRecord>, bool), KeyError> {
        use std::ops::Bound;
        self.catch_up().await?;
        let table = self.read();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rows = table
            .by_id
            .range((start, Bound::Unbounded))
            .filter_map(|(_, hash)| table.by_hash.get(hash));
        let items: Vec<KeyRecord> = rows.by_ref().take(limit).map(|e| e.shown()).collect();
        Ok((items, rows.next().is_some()))
    }

    /// With replicas, takes every key as the store has it into the table (another replica
    /// may have made or revoked some).
    async fn catch_up(&self) -> Result<(), KeyError> {
        let Some(store) = &self.inner.shared else {
            return Ok(());
        };
        let records = store.keys().await.map_err(|e| {
            tracing::error!(error = %e, "reading the keys failed");
            KeyError::Unavailable
        })?;
        for record in records {
            self.keep(record);
        }
        Ok(())
    }

    /// Takes `record` into the table unless the table has it as it is (then its bucket and
    /// last use stay).
    fn keep(&self, record: KeyRecord) {
        let same = self.read().by_hash.get(&record.hash).is_some_and(|e| {
            let had = &e.record;
            (had.revoked_at, had.expires_at, had.role)
                == (record.revoked_at, record.expires_at, record.role)
        });
        if !same {
            self.insert(record);
        }
    }

    /// Writes the last use of every key used since the previous call.
    pub async fn save_last_use(&self) {
        let used: Vec<(Arc<Entry>, i64)> = self
            .read()
            .by_hash
            .values()
            .filter_map(|e| {
                let last = e.last_used.load(Ordering::Relaxed);
                (last > e.flushed.load(Ordering::Relaxed)).then(|| (e.clone(), last))
            })
            .collect();
        if used.is_empty() {
            return;
        }
        let command = TouchKeys {
            used: used
                .iter()
                .map(|(e, at)| (e.record.hash.clone(), Timestamp(*at)))
                .collect(),
        };
        if self.write(command).await.is_ok() {
            for (entry, at) in used {
                entry.flushed.fetch_max(at, Ordering::Relaxed);
            }
        }
    }

    /// Saves the last use of keys every few seconds while the registry lives.
    pub fn keep_last_use(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(LAST_USE_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Keys { inner }.save_last_use().await;
            }
        });
    }

    fn insert(&self, record: KeyRecord) {
        let mut table = self.inner.table.write().unwrap_or_else(|e| e.into_inner());
        let last = record.last_used_at.map_or(0, |t| t.0);
        let previous = table.by_hash.get(&record.hash);
        let last = previous.map_or(last, |p| p.last_used.load(Ordering::Relaxed).max(last));
        let entry = Entry {
            limiter: self.inner.quota.map(DefaultDirectRateLimiter::direct),
            last_used: AtomicI64::new(last),
            flushed: AtomicI64::new(record.last_used_at.map_or(0, |t| t.0)),
            record,
        };
        table
            .by_id
            .insert(entry.record.id.clone(), entry.record.hash.clone());
        table
            .by_hash
            .insert(entry.record.hash.clone(), Arc::new(entry));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.inner.table.read().unwrap_or_else(|e| e.into_inner())
    }

    async fn write<C: crate::store::Write<Output = ()>>(&self, command: C) -> Result<(), KeyError> {
        self.inner.writer.write(command).await.map_err(|e| {
            tracing::error!(error = %e, "a key or audit write was not stored");
            KeyError::Unavailable
        })
    }
}

impl Entry {
    /// The record with its latest use.
    fn shown(&self) -> KeyRecord {
        let last = self.last_used.load(Ordering::Relaxed);
        KeyRecord {
            last_used_at: (last > 0).then_some(Timestamp(last)),
            ..self.record.clone()
        }
    }
}

/// The record of a new key: its hash, never the key.
fn record_of(hasher: &KeyHasher, key: &ApiKey, new: NewKey) -> KeyRecord {
    KeyRecord {
        id: KeyId::generate(),
        hash: hasher.hash(key),
        role: new.role,
        customer_id: new.customer_id,
        name: new.name,
        prefix: key.display_prefix().to_owned(),
        created_at: Timestamp::now(),
        expires_at: new.expires_at,
        revoked_at: None,
        last_used_at: None,
    }
}

fn audit(by: &Caller, action: &str, target: &str) -> AuditEntry {
    AuditEntry::by(by.key_id(), action, target)
}

/// Where the bootstrap admin key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// An admin key was stored already; nothing was made.
    Existing,
    /// `PAYTREE_ADMIN_KEY` was stored as an admin key.
    FromEnvironment,
    /// A new admin key was made; its plaintext is here, for `admin.key`.
    Made(ApiKey),
}

/// Makes sure an admin key can be used: `given` (from `PAYTREE_ADMIN_KEY`) is stored as one
/// unless it is already; without it, a new one is made when no usable admin key is stored.
/// Runs before the tree starts, so it commits on the store directly.
pub async fn bootstrap(
    store: &Store,
    hasher: &KeyHasher,
    given: Option<&ApiKey>,
) -> anyhow::Result<Bootstrap> {
    let now = Timestamp::now();
    let stored = store.keys().await?;
    let (key, outcome) = match given {
        Some(key) => {
            let hash = hasher.hash(key);
            match stored.iter().find(|r| r.hash == hash) {
                Some(r) if r.role == Role::Admin && r.usable_at(now) => {
                    return Ok(Bootstrap::Existing);
                }
                Some(_) => anyhow::bail!(
                    "PAYTREE_ADMIN_KEY names a key that is revoked, expired or not an admin key"
                ),
                None => (key.clone(), Bootstrap::FromEnvironment),
            }
        }
        None => {
            if stored
                .iter()
                .any(|r| r.role == Role::Admin && r.usable_at(now))
            {
                return Ok(Bootstrap::Existing);
            }
            let key = ApiKey::generate();
            (key.clone(), Bootstrap::Made(key))
        }
    };
    let new = NewKey {
        role: Role::Admin,
        customer_id: None,
        name: "bootstrap admin".to_owned(),
        expires_at: None,
    };
    let record = record_of(hasher, &key, new);
    let audit = AuditEntry {
        id: 0,
        at: now,
        key_id: None,
        action: action::KEY_CREATED.to_owned(),
        target: record.id.as_str().to_owned(),
    };
    let command = CreateKey {
        record,
        audit: Some(audit),
    };
    store.commit(vec![command.into()]).await?;
    Ok(outcome)
}
