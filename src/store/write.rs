//! The write side: what one command stores, applied for a whole batch inside one durable
//! write transaction. Ids and event positions are assigned here, inside the transaction, so
//! they follow commit order and have no gaps.

use super::codec::encode;
use super::command::*;
use super::tables::*;
use super::{Advance, StoreError};
use crate::domain::message::Message;
use crate::domain::{CustomerId, Event, Payload, Payment, PaymentId, Position, Timestamp};
use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};

mod access;
mod intents;
mod notify;
mod orders;
mod paymethods;
mod shipments;
#[cfg(test)]
pub(crate) mod testing;

pub fn commit_batch(
    db: &Database,
    commands: &[Command],
) -> Result<Vec<Result<Outcome, Rejected>>, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let results = {
        let mut tables = Tables::open(&txn)?;
        let results = commands
            .iter()
            .map(|c| tables.apply(c))
            .collect::<Result<Vec<_>, _>>()?;
        tables.save_sequences()?;
        results
    };
    txn.commit()?;
    Ok(results)
}

/// The sequences every batch uses, read at its start and saved before its commit. The
/// aggregate kinds' id sequences are read and written by `ReserveIds` alone.
struct Sequences {
    payment: u64,
    position: u64,
}

struct Tables<'t> {
    /// For the tables only some commands use, opened by those commands.
    txn: &'t WriteTransaction,
    paymethods: Table<'t, u64, &'static [u8]>,
    by_customer: Table<'t, (&'static str, u8, u64), ()>,
    events: Table<'t, u64, &'static [u8]>,
    payments: Table<'t, u64, &'static [u8]>,
    payments_by_paymethod: Table<'t, (u64, u64), ()>,
    idempotency: Table<'t, (&'static str, &'static str), &'static [u8]>,
    messages: Table<'t, u64, &'static [u8]>,
    messages_pending: Table<'t, u64, ()>,
    attempts: Table<'t, (u64, u32), &'static [u8]>,
    mypage: Table<'t, (&'static str, u8, u64), &'static [u8]>,
    checkpoints: Table<'t, &'static str, u64>,
    idempotency_by_time: Table<'t, (u64, &'static str, &'static str), ()>,
    intents: Table<'t, &'static str, &'static [u8]>,
    intents_open: Table<'t, (u64, &'static str), ()>,
    refunds_owed: Table<'t, &'static str, &'static [u8]>,
    meta: Table<'t, &'static str, &'static [u8]>,
    sequences: Table<'t, &'static str, u64>,
    seq: Sequences,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let sequences = txn.open_table(SEQUENCES)?;
        let read = |name: &str| -> Result<u64, StoreError> {
            Ok(sequences.get(name)?.map(|v| v.value()).unwrap_or(1))
        };
        let seq = Sequences {
            payment: read(SEQ_PAYMENT)?,
            position: read(SEQ_POSITION)?,
        };
        Ok(Self {
            txn,
            paymethods: txn.open_table(PAYMETHODS)?,
            by_customer: txn.open_table(BY_CUSTOMER)?,
            events: txn.open_table(EVENTS)?,
            payments: txn.open_table(PAYMENTS)?,
            payments_by_paymethod: txn.open_table(PAYMENTS_BY_PAYMETHOD)?,
            idempotency: txn.open_table(IDEMPOTENCY)?,
            messages: txn.open_table(MESSAGES)?,
            messages_pending: txn.open_table(MESSAGES_PENDING)?,
            attempts: txn.open_table(DELIVERY_ATTEMPTS)?,
            mypage: txn.open_table(MYPAGE)?,
            checkpoints: txn.open_table(CHECKPOINTS)?,
            idempotency_by_time: txn.open_table(IDEMPOTENCY_BY_TIME)?,
            intents: txn.open_table(INTENTS)?,
            intents_open: txn.open_table(INTENTS_OPEN)?,
            refunds_owed: txn.open_table(REFUNDS_OWED)?,
            meta: txn.open_table(META)?,
            sequences,
            seq,
        })
    }

    fn save_sequences(&mut self) -> Result<(), StoreError> {
        self.sequences.insert(SEQ_PAYMENT, self.seq.payment)?;
        self.sequences.insert(SEQ_POSITION, self.seq.position)?;
        Ok(())
    }

    fn apply(&mut self, command: &Command) -> Result<Result<Outcome, Rejected>, StoreError> {
        match command {
            Command::OpenIntent(open) => Ok(Ok(self.open_intent(open)?)),
            Command::Register(Register {
                method,
                payment,
                intent,
                idempotency,
            }) => self.register(method, payment, intent, idempotency.as_ref()),
            Command::RecordDeclined(RecordDeclined {
                payment,
                intent,
                idempotency,
            }) => self.record_declined(payment, intent, idempotency.as_ref()),
            Command::Change(Change {
                method,
                expected_version,
                previous,
                payment,
                intent,
            }) => self.change(method, *expected_version, previous, payment, intent),
            Command::Remove(Remove {
                id,
                expected_version,
            }) => self.remove(*id, *expected_version),
            Command::RecordMessages(RecordMessages {
                messages,
                checkpoint,
            }) => self.advancing(NOTIFIER, checkpoint, |t| {
                for message in messages {
                    t.insert_message(message)?;
                }
                Ok(())
            }),
            Command::RecordDelivery(RecordDelivery {
                message,
                attempt,
                audit,
            }) => {
                let recorded = self.record_delivery(message, attempt.as_ref())?;
                if let (Ok(_), Some(audit)) = (&recorded, audit) {
                    self.record_audit(audit)?;
                }
                Ok(recorded)
            }
            Command::ProjectViews(ProjectViews {
                changes,
                checkpoint,
            }) => self.advancing(PROJECTOR, checkpoint, |t| {
                for change in changes {
                    t.change_view(change)?;
                }
                Ok(())
            }),
            Command::ResolveIntent(ResolveIntent {
                intent,
                opened_at,
                verdict,
            }) => self.resolve_intent(intent, *opened_at, verdict),
            Command::OweRefund(OweRefund { refund }) => {
                self.owe_refund(refund)?;
                Ok(Ok(Outcome::default()))
            }
            Command::RecordRefund(RecordRefund {
                authorization,
                payment,
            }) => Ok(Ok(self.record_refund(authorization, payment)?)),
            Command::Prune(Prune { before, limit }) => Ok(Ok(self.prune(*before, *limit)?)),
            Command::PutMeta(PutMeta { name, value }) => {
                self.meta.insert(*name, value.as_slice())?;
                Ok(Ok(Outcome::default()))
            }
            Command::ReserveIds(ReserveIds { sequence, count }) => {
                let name = id_sequence(sequence);
                let first = self.sequences.get(name.as_str())?.map_or(1, |v| v.value());
                self.sequences.insert(name.as_str(), first + count)?;
                Ok(Ok(Outcome {
                    first_id: Some(first),
                    ..Outcome::default()
                }))
            }
            Command::CreateKey(CreateKey { record, audit }) => {
                self.create_key(record, audit.as_ref())?;
                Ok(Ok(Outcome::default()))
            }
            Command::RevokeKey(RevokeKey { id, at, audit }) => {
                self.revoke_key(id, *at, audit)?;
                Ok(Ok(Outcome::default()))
            }
            Command::TouchKeys(TouchKeys { used }) => {
                self.touch_keys(used)?;
                Ok(Ok(Outcome::default()))
            }
            Command::RecordAudit(RecordAudit { audit }) => {
                self.record_audit(audit)?;
                Ok(Ok(Outcome::default()))
            }
            Command::PlaceOrder(place) => self.place_order(place),
            Command::SaveOrder(save) => self.save_order(save),
            Command::CreateShipments(CreateShipments { orders, checkpoint }) => {
                self.advancing(SHIPPING, checkpoint, |t| {
                    for order in orders {
                        t.create_shipment(order)?;
                    }
                    Ok(())
                })
            }
            Command::CancelMissingShipment(CancelMissingShipment { order }) => {
                self.cancel_missing_shipment(order)
            }
            Command::SaveShipment(save) => self.save_shipment(save),
            Command::PlanSagaSteps(PlanSagaSteps { steps, checkpoint }) => {
                self.advancing(SAGA, checkpoint, |t| t.plan_saga_steps(steps))
            }
            Command::FinishSagaStep(FinishSagaStep { order, step }) => {
                self.finish_saga_step(*order, *step)?;
                Ok(Ok(Outcome::default()))
            }
            Command::SetShippingPaused(SetShippingPaused { paused, audit }) => {
                if *paused {
                    self.meta.insert(SHIPPING_PAUSED, [1u8].as_slice())?;
                } else {
                    self.meta.remove(SHIPPING_PAUSED)?;
                }
                self.record_audit(audit)?;
                Ok(Ok(Outcome::default()))
            }
            Command::PutProduct(PutProduct { product, audit }) => {
                let created = self.put_product(product)?;
                self.record_audit(audit)?;
                Ok(Ok(Outcome {
                    created,
                    ..Outcome::default()
                }))
            }
        }
    }

    /// A log reader's batch: `write` what the reader made of it and move its checkpoint, only
    /// if the checkpoint is still where the reader read the batch from (see [`Advance`]).
    fn advancing(
        &mut self,
        reader: &str,
        advance: &Advance,
        write: impl FnOnce(&mut Self) -> Result<(), StoreError>,
    ) -> Result<Result<Outcome, Rejected>, StoreError> {
        let stored = self.checkpoints.get(reader)?.map_or(0, |v| v.value());
        if stored != advance.from.position().0 {
            return Ok(Err(Rejected::VersionConflict));
        }
        write(self)?;
        self.checkpoints
            .insert(reader, advance.to.at.position().0)?;
        Ok(Ok(Outcome::default()))
    }

    fn insert_payment(&mut self, mut payment: Payment) -> Result<PaymentId, StoreError> {
        let id = PaymentId(self.seq.payment);
        self.seq.payment += 1;
        payment.id = id;
        self.payments.insert(id.0, encode(&payment)?.as_slice())?;
        self.by_customer
            .insert((payment.customer_id.as_str(), OF_PAYMENTS, id.0), ())?;
        if let Some(pm) = payment.paymethod_id {
            self.payments_by_paymethod.insert((pm.0, id.0), ())?;
        }
        Ok(id)
    }

    /// Appends an event of aggregate `aggregate_id` (its kind is the payload's) at the next
    /// position of the global log.
    fn append_event(
        &mut self,
        aggregate_id: u64,
        customer: &CustomerId,
        version: u64,
        payload: Payload,
    ) -> Result<Position, StoreError> {
        let position = Position(self.seq.position);
        self.seq.position += 1;
        let event = Event {
            position,
            aggregate_id,
            customer_id: customer.clone(),
            version,
            recorded_at: Timestamp::now(),
            payload,
        };
        self.events.insert(position.0, encode(&event)?.as_slice())?;
        // The event's message (its id is the position), if it has one, is listed for the
        // customer from here, in this command's page of the index; the notifier creates it
        // later, and a listing shows it from then on.
        if Message::is_for(&event) {
            self.by_customer
                .insert((customer.as_str(), OF_MESSAGES, position.0), ())?;
        }
        Ok(position)
    }
}
