//! The write side on PostgreSQL: [`Postgres::commit`] applies a batch of commands in one
//! transaction with the embedded store's semantics (`store/write.rs`: a rejected command
//! writes nothing and leaves the others be; a storage error stores nothing), made safe for
//! replicas that commit to the same database at once.
//!
//! A command first reads what decides it, in one statement: its checks, and the ids it will
//! need, drawn only if the checks pass (so a rejected command draws none). Then it sends its
//! writes together (pipelined: one round trip). What another replica may change in between
//! is written conditionally (`UPDATE … WHERE version = $expected`, `INSERT … ON CONFLICT DO
//! NOTHING`, the intent deleted with its nonce) under a savepoint: a command that finds it
//! lost such a race rolls back to the savepoint and is rejected, as it would have been had
//! it read after the winner. No unique violation is left to abort the transaction. Where a
//! write is computed from a row's contents (a key record, an intent, a message's attempts),
//! the read locks the row (`FOR UPDATE`) so that nothing changes it until the commit.
//!
//! Round trips of a batch of one `Register`, on a connection that has its statements
//! prepared (each statement is prepared once per connection): BEGIN; the checks; the
//! savepoint with the writes; COMMIT. Four (`tests/postgres/round_trips.rs` counts them).
//!
//! Where it differs from the embedded store, by design: positions and payment, shipment and
//! audit ids come from sequences, so they are neither gap-free (a batch that rolls back, or
//! a command that loses a race, keeps its draws) nor in commit order; an event's
//! `recorded_at` is its transaction's start on the database's clock; `ReserveIds` takes
//! from the `id_sequences` row named by the kind itself, as [`Postgres::reserve_ids`] does;
//! an aggregate id created again after its removal is a `VersionConflict` (its first
//! event's version is taken; ids are never reused, the routers reserve them); a number
//! above `i64::MAX` is an error, not stored; an `OpenIntent` that another replica's opening
//! of the same base overtakes fails the batch with [`PgError::Contended`], and the batch is
//! tried again.

use super::record::{int, uint};
use super::{PgError, Postgres};
use crate::domain::{PaymentId, Position};
use crate::store::command::*;
use crate::store::tables::{NOTIFIER, PROJECTOR, SAGA, SHIPPING};
use deadpool_postgres::Transaction;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

mod access;
mod aggregate;
mod intents;
mod notify;
mod orders;
mod paymethods;
mod shared;
mod shipments;

use shared::EventRow;

pub(super) type Applied = Result<Result<Outcome, Rejected>, PgError>;
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Every statement the write side sends, by module: prepared together (one round trip) on a
/// connection's first batch, so that a command's statements are always sent in the order it
/// gives them (a statement still being prepared would be sent after a prepared one).
const STATEMENTS: [&[&str]; 9] = [
    &[super::ids::RESERVE],
    shared::STATEMENTS,
    access::STATEMENTS,
    aggregate::STATEMENTS,
    intents::STATEMENTS,
    notify::STATEMENTS,
    orders::STATEMENTS,
    paymethods::STATEMENTS,
    shipments::STATEMENTS,
];

/// How many times a batch is tried when the server gives it up to break a deadlock or a
/// serialization conflict (the same batch again may commit).
const ATTEMPTS: u32 = 4;

impl Postgres {
    /// Commits `commands` in one transaction (`synchronous_commit` on): either all of them
    /// are stored or, on an error, none. A command that is rejected (a stale version, a
    /// closed intent, a key with an outcome, found here or lost to another replica's
    /// concurrent write) writes nothing and does not affect the others.
    pub async fn commit(
        &self,
        commands: &[Command],
    ) -> Result<Vec<Result<Outcome, Rejected>>, PgError> {
        let mut client = self.client().await?;
        let mut attempt = 1;
        loop {
            match commit_once(&mut client, commands).await {
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "postgres: batch given up by the server; again");
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

async fn commit_once(
    client: &mut deadpool_postgres::Object,
    commands: &[Command],
) -> Result<Vec<Result<Outcome, Rejected>>, PgError> {
    let txn = client.transaction().await?;
    let prepared = STATEMENTS
        .iter()
        .flat_map(|module| module.iter())
        .map(|sql| txn.prepare_cached(sql));
    futures_util::future::try_join_all(prepared).await?;
    let batch = Batch {
        txn: &txn,
        savepoint: AtomicBool::new(false),
    };
    let mut results = Vec::with_capacity(commands.len());
    for command in commands {
        results.push(batch.apply(command).await?);
    }
    txn.commit().await?;
    Ok(results)
}

/// One batch's transaction, and the statements every kind of command uses.
pub(super) struct Batch<'b, 't> {
    txn: &'b Transaction<'t>,
    /// Whether the savepoint is open: the last command that wrote under it stands, and its
    /// savepoint is released when the next one opens its own (or at COMMIT). So there is
    /// one savepoint at a time, however long the batch.
    savepoint: AtomicBool,
}

impl Batch<'_, '_> {
    /// `sql`, prepared at the start of the batch (an error if it is not in [`STATEMENTS`]:
    /// it could be sent out of its order).
    async fn statement(&self, sql: &str) -> Result<Statement, PgError> {
        if !STATEMENTS.iter().any(|module| module.contains(&sql)) {
            return Err(PgError::Encode(format!(
                "a statement not prepared with the others: {sql}"
            )));
        }
        Ok(self.txn.prepare_cached(sql).await?)
    }

    pub(super) async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, PgError> {
        let statement = self.statement(sql).await?;
        Ok(self.txn.execute(&statement, params).await?)
    }

    pub(super) async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        let statement = self.statement(sql).await?;
        Ok(self.txn.query(&statement, params).await?)
    }

    pub(super) async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, PgError> {
        let statement = self.statement(sql).await?;
        Ok(self.txn.query_one(&statement, params).await?)
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, PgError> {
        let statement = self.statement(sql).await?;
        Ok(self.txn.query_opt(&statement, params).await?)
    }

    /// Opens the savepoint that a command's conditional writes go under (sent with them).
    pub(super) async fn savepoint(&self) -> Result<(), PgError> {
        let sql = if self.savepoint.swap(true, Ordering::Relaxed) {
            "RELEASE SAVEPOINT command; SAVEPOINT command"
        } else {
            "SAVEPOINT command"
        };
        Ok(self.txn.batch_execute(sql).await?)
    }

    /// Undoes what the command wrote since its savepoint: it lost a race, and writes nothing.
    pub(super) async fn undo(&self) -> Result<(), PgError> {
        Ok(self
            .txn
            .batch_execute("ROLLBACK TO SAVEPOINT command")
            .await?)
    }

    /// Rejects the command with the first rejection whose condition holds (in the embedded
    /// store's order of checks), undoing its writes; `None` when it stands.
    pub(super) async fn lost(
        &self,
        races: &[(bool, Rejected)],
    ) -> Result<Option<Rejected>, PgError> {
        match first(races) {
            Some(rejected) => {
                self.undo().await?;
                Ok(Some(rejected))
            }
            None => Ok(None),
        }
    }

    async fn apply(&self, command: &Command) -> Applied {
        match command {
            Command::OpenIntent(open) => Ok(Ok(self.open_intent(open).await?)),
            Command::Register(register) => self.register(register).await,
            Command::RecordDeclined(declined) => self.record_declined(declined).await,
            Command::Change(change) => self.change(change).await,
            Command::Remove(Remove {
                id,
                expected_version,
            }) => self.remove(*id, *expected_version).await,
            Command::ResolveIntent(resolve) => self.resolve_intent(resolve).await,
            Command::OweRefund(OweRefund { refund }) => {
                self.owe_refund(refund).await?;
                done()
            }
            Command::RecordRefund(RecordRefund {
                authorization,
                payment,
            }) => Ok(Ok(self.record_refund(authorization, payment).await?)),
            Command::Prune(Prune { before, limit }) => Ok(Ok(self.prune(*before, *limit).await?)),
            Command::PutMeta(PutMeta { name, value }) => {
                self.put_meta(name, value).await?;
                done()
            }
            Command::RecordMessages(RecordMessages {
                messages,
                checkpoint,
            }) => {
                self.advancing(NOTIFIER, checkpoint, self.record_messages(messages))
                    .await
            }
            Command::RecordDelivery(delivery) => self.record_delivery(delivery).await,
            Command::ProjectViews(ProjectViews {
                changes,
                checkpoint,
            }) => {
                self.advancing(PROJECTOR, checkpoint, self.project_views(changes))
                    .await
            }
            Command::ReserveIds(ReserveIds { sequence, count }) => {
                let row = self
                    .query_one(super::ids::RESERVE, &[sequence, &int(*count)?])
                    .await?;
                Ok(Ok(Outcome {
                    first_id: Some(uint(row.get(0))?),
                    ..Outcome::default()
                }))
            }
            Command::CreateKey(CreateKey { record, audit }) => {
                self.create_key(record, audit.as_ref()).await?;
                done()
            }
            Command::RevokeKey(RevokeKey { id, at, audit }) => {
                self.revoke_key(id, *at, audit).await?;
                done()
            }
            Command::TouchKeys(TouchKeys { used }) => {
                self.touch_keys(used).await?;
                done()
            }
            Command::RecordAudit(RecordAudit { audit }) => {
                self.record_audit(audit).await?;
                done()
            }
            Command::PutProduct(PutProduct { product, audit }) => Ok(Ok(Outcome {
                created: self.put_product(product, audit).await?,
                ..Outcome::default()
            })),
            Command::PlaceOrder(place) => self.place_order(place).await,
            Command::SaveOrder(save) => self.save_order(save).await,
            Command::CreateShipments(CreateShipments { orders, checkpoint }) => {
                let create = async {
                    for order in orders {
                        self.create_shipment(order).await?;
                    }
                    Ok(())
                };
                self.advancing(SHIPPING, checkpoint, create).await
            }
            Command::CancelMissingShipment(CancelMissingShipment { order }) => {
                self.cancel_missing_shipment(order).await
            }
            Command::SaveShipment(save) => self.save_shipment(save).await,
            Command::PlanSagaSteps(PlanSagaSteps { steps, checkpoint }) => {
                self.advancing(SAGA, checkpoint, self.plan_saga_steps(steps))
                    .await
            }
            Command::FinishSagaStep(FinishSagaStep { order, step }) => {
                self.finish_saga_step(*order, *step).await?;
                done()
            }
            Command::SetShippingPaused(SetShippingPaused { paused, audit }) => {
                self.set_shipping_paused(*paused, audit).await?;
                done()
            }
        }
    }
}

/// The first rejection whose condition holds.
pub(super) fn first(checks: &[(bool, Rejected)]) -> Option<Rejected> {
    checks
        .iter()
        .find(|(holds, _)| *holds)
        .map(|(_, rejected)| rejected.clone())
}

/// A payment id a check statement drew in column `column` (drawn when its checks passed).
pub(super) fn drawn_payment(row: &Row, column: usize) -> Result<PaymentId, PgError> {
    Ok(PaymentId(drawn(row, column)?))
}

/// An event position a check statement drew in column `column`.
pub(super) fn drawn_position(row: &Row, column: usize) -> Result<Position, PgError> {
    Ok(Position(drawn(row, column)?))
}

/// An id that was asked for, so drawn: its absence would be a bug of this module.
pub(super) fn must<T>(drawn: Option<T>) -> Result<T, PgError> {
    drawn.ok_or_else(|| PgError::Decode("an id asked for was not drawn".into()))
}

pub(super) fn drawn(row: &Row, column: usize) -> Result<u64, PgError> {
    match row.get::<_, Option<i64>>(column) {
        Some(id) => uint(id),
        None => Err(PgError::Decode(format!("no id drawn in column {column}"))),
    }
}

fn done() -> Applied {
    Ok(Ok(Outcome::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    /// The store writer runs `commit` on a spawned task: its future must be `Send` (the batch's
    /// state is shared by `&` between pipelined statements, so it must be `Sync`).
    #[allow(dead_code)]
    fn commit_is_send(store: &Postgres) {
        is_send(&store.commit(&[]));
    }
}
