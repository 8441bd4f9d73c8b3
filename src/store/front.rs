//! The store the service talks to, whichever engine keeps the records: the embedded redb file
//! (one process, the default) or PostgreSQL (N replicas). Every read and the batch commit are
//! async here, so the actors and handlers need not know which engine answers.
//!
//! The embedded store's reads are point reads or short pages, normally out of redb's cache:
//! they run on the calling task (a hop to the blocking pool would cost more than the read).
//! Its scans (the log, every key, every open intent) and its commits (an fsync) run on the
//! blocking pool.

use super::command::{Command, Outcome, Rejected};
use super::postgres::{Applied, Postgres};
use super::read::Page;
use super::{Checkpoint, Redb, StoreError};
use crate::auth::{AuditEntry, KeyRecord};
use crate::bus::Bus;
use crate::domain::catalogue::{Product, Sku};
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::intent::{Intent, RefundOwed};
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::Mypage;
use crate::domain::order::{SagaStep, StoredOrder};
use crate::domain::shipment::ShipmentStatus;
use crate::domain::{
    CustomerId, Event, IdempotencyKey, MessageId, OrderId, Payment, PaymentId, PaymethodId,
    Position, Shipment, ShipmentId, StoredMethod, Timestamp,
};
use std::path::Path;
use std::sync::Arc;

/// How the log's readers of a replica on PostgreSQL read it: through NATS JetStream, where
/// the relay publishes it, as this replica (a name unique to the process, for leases).
#[derive(Clone)]
pub struct BusLog {
    pub store: Postgres,
    pub bus: Bus,
    pub holder: String,
}

impl std::fmt::Debug for BusLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BusLog({:?} as {})", self.bus, self.holder)
    }
}

/// A handle on the store, cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Redb(Redb),
    /// Behind an `Arc`: a clone of the store is a pointer, as the embedded store's is.
    Postgres(Arc<BusLog>),
}

impl Store {
    /// Opens (or creates) the embedded store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            backend: Backend::Redb(Redb::open(path)?),
        })
    }

    /// PostgreSQL (its schema migrated), whose log the readers read through `log`'s bus.
    pub fn postgres(log: BusLog) -> Self {
        Self {
            backend: Backend::Postgres(Arc::new(log)),
        }
    }

    /// With PostgreSQL, where the log's readers read it: the bus, and who this replica is.
    pub fn bus_log(&self) -> Option<&Arc<BusLog>> {
        match &self.backend {
            Backend::Redb(_) => None,
            Backend::Postgres(log) => Some(log),
        }
    }

    /// The embedded store, for what only it does (backups, its file's size).
    pub fn embedded(&self) -> Option<&Redb> {
        match &self.backend {
            Backend::Redb(db) => Some(db),
            Backend::Postgres(_) => None,
        }
    }

    /// Commits `commands` in one transaction (group commit): either all of them are stored
    /// or, on a storage error, none. A command that is rejected (a stale version) writes
    /// nothing and does not affect the others.
    pub async fn commit(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<Result<Outcome, Rejected>>, StoreError> {
        match &self.backend {
            Backend::Redb(db) => {
                let db = db.clone();
                blocking(move || db.commit(&commands)).await
            }
            Backend::Postgres(log) => Ok(log.store.commit(&commands).await?),
        }
    }

    /// False while the store cannot take writes (the embedded store after a storage I/O
    /// error, until it has reopened the database).
    pub fn is_writable(&self) -> bool {
        match &self.backend {
            Backend::Redb(db) => db.is_writable(),
            // Its health is the server's; a write that fails says so.
            Backend::Postgres(_) => true,
        }
    }

    /// Empties the mypage views and resets the projector's checkpoint, so the projector
    /// folds the whole event log again.
    pub async fn reset_views(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Redb(db) => {
                let db = db.clone();
                blocking(move || db.reset_views()).await
            }
            Backend::Postgres(log) => Ok(log.store.reset_views().await?),
        }
    }
}

/// Runs a blocking store call on the blocking pool; a panic in it is an error, not a crash.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StoreError::Panicked(e.to_string()))?
}

/// Each read once: its name, arguments and result, and whether the embedded store runs it
/// on the calling task (`inline`) or the blocking pool (`blocking`: scans; arguments owned).
macro_rules! reads {
    ($($(#[$doc:meta])* $how:ident $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl Store {$(
            $(#[$doc])*
            pub async fn $name(&self $(, $arg: $ty)*) -> Result<$out, StoreError> {
                match &self.backend {
                    Backend::Redb(db) => reads!(@$how db.$name($($arg),*)),
                    Backend::Postgres(log) => Ok(log.store.$name($($arg),*).await?),
                }
            }
        )*}
    };
    (@inline $db:ident.$name:ident($($arg:ident),*)) => {
        $db.$name($($arg),*)
    };
    (@blocking $db:ident.$name:ident($($arg:ident),*)) => {{
        let db = $db.clone();
        blocking(move || db.$name($($arg),*)).await
    }};
}

reads! {
    inline paymethod(id: PaymethodId) -> Option<StoredMethod>;
    inline payment(id: PaymentId) -> Option<Payment>;
    /// A customer's payment methods with ids above `after`, at most `limit` of them.
    inline paymethods_of(customer: &CustomerId, after: u64, limit: usize) -> Page<StoredMethod>;
    /// A customer's payment records with ids above `after`.
    inline payments_of_customer(customer: &CustomerId, after: u64, limit: usize) -> Page<Payment>;
    /// A payment method's payment records with ids above `after`.
    inline payments_of_paymethod(paymethod: PaymethodId, after: u64, limit: usize) -> Page<Payment>;
    /// The stored outcome of a customer's `Idempotency-Key`.
    inline idempotency(customer: &CustomerId, key: &IdempotencyKey) -> Option<IdempotencyRecord>;
    /// A customer's messages with ids above `after`.
    inline messages_of(customer: &CustomerId, after: u64, limit: usize) -> Page<Message>;
    inline message(id: MessageId) -> Option<Message>;
    inline messages_by_id(ids: &[MessageId]) -> Vec<Option<Message>>;
    /// Messages still to deliver.
    blocking pending_messages() -> Vec<Message>;
    inline attempts_of(message: MessageId) -> Vec<DeliveryAttempt>;
    inline mypage(customer: &CustomerId) -> Option<Mypage>;
    /// How far the log reader `name` has got.
    inline checkpoint(name: &str) -> Checkpoint;
    /// The position of the last event of the log.
    blocking last_position() -> Position;
    blocking keys() -> Vec<KeyRecord>;
    /// The key whose hash is `hash`.
    inline api_key(hash: &str) -> Option<KeyRecord>;
    inline product(sku: &Sku) -> Option<Product>;
    /// Active products after `after` by SKU, and whether there are more.
    inline active_products(after: Option<&Sku>, limit: usize) -> (Vec<Product>, bool);
    /// The audit log after entry `after`.
    blocking audit(after: u64, limit: usize) -> Page<AuditEntry>;
    /// Open intents opened before `before`, after `after`, at most `limit`.
    inline open_intents_before(before: Timestamp, after: Option<&Intent>, limit: usize) -> Vec<Intent>;
    /// How many intents are open.
    blocking open_intents() -> u64;
    /// Refunds owed after `after` (an authorization), at most `limit`.
    inline refunds_owed(after: Option<&str>, limit: usize) -> Vec<RefundOwed>;
    /// A named setting kept across restarts.
    inline meta(name: &str) -> Option<Vec<u8>>;
    inline order(id: OrderId) -> Option<StoredOrder>;
    /// A customer's orders with ids above `after`.
    inline orders_of(customer: &CustomerId, after: u64, limit: usize) -> Page<StoredOrder>;
    inline shipment(id: ShipmentId) -> Option<Shipment>;
    /// The shipment made for an order, if any.
    inline shipment_of_order(order: OrderId) -> Option<ShipmentId>;
    /// Shipments (of a status, if given) with ids above `after`.
    inline shipments(status: Option<ShipmentStatus>, after: u64, limit: usize) -> Page<Shipment>;
    /// How many shipments are pending, shipped and cancelled.
    blocking shipment_counts() -> [u64; 3];
    /// The saga steps planned and not yet carried out.
    blocking saga_steps() -> Vec<(OrderId, SagaStep)>;
}

impl Store {
    /// Whether the log reader `reader` has handled the event at `position`.
    pub async fn applied(&self, reader: &str, position: Position) -> Result<Applied, StoreError> {
        match &self.backend {
            Backend::Redb(db) => {
                if db.checkpoint(reader)?.at.position() >= position {
                    return Ok(Applied::Yes);
                }
                let head = self.last_position().await?;
                Ok(match head >= position {
                    true => Applied::NotYet,
                    false => Applied::Unknown {
                        head: i64::try_from(head.0).unwrap_or(i64::MAX),
                    },
                })
            }
            Backend::Postgres(log) => {
                let position = i64::try_from(position.0).unwrap_or(i64::MAX);
                Ok(log.store.applied(reader, position).await?)
            }
        }
    }

    /// At most `limit` events after `after`, in log order: the embedded store's log. With
    /// PostgreSQL the readers read the log through the bus (see [`Store::bus_log`]).
    pub async fn events_after(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        match &self.backend {
            Backend::Redb(db) => {
                let db = db.clone();
                blocking(move || db.events_after(after, limit)).await
            }
            Backend::Postgres(_) => Err(StoreError::Unsupported(
                "with PostgreSQL the log is read through the bus",
            )),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Redb(_) => f.write_str("Store(redb)"),
            Backend::Postgres(log) => write!(f, "Store(postgres, as {})", log.holder),
        }
    }
}
