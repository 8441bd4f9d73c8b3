//! The write side: what one command stores, applied for a whole batch inside one durable
//! write transaction. Ids and event positions are assigned here, inside the transaction, so
//! they follow commit order and have no gaps.

use super::StoreError;
use super::codec::encode;
use super::command::{Command, Outcome, Rejected};
use super::tables::*;
use crate::domain::idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentOutcome};
use crate::domain::{
    Event, EventKind, MaskedAttrs, Payment, PaymentId, PaymentMethod, PaymethodId, Position,
    Timestamp,
};
use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};

mod intents;
mod notify;

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

struct Sequences {
    paymethod: u64,
    payment: u64,
    position: u64,
}

struct Tables<'t> {
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
            paymethod: read(SEQ_PAYMETHOD)?,
            payment: read(SEQ_PAYMENT)?,
            position: read(SEQ_POSITION)?,
        };
        Ok(Self {
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
        self.sequences.insert(SEQ_PAYMETHOD, self.seq.paymethod)?;
        self.sequences.insert(SEQ_PAYMENT, self.seq.payment)?;
        self.sequences.insert(SEQ_POSITION, self.seq.position)?;
        Ok(())
    }

    fn apply(&mut self, command: &Command) -> Result<Result<Outcome, Rejected>, StoreError> {
        match command {
            Command::OpenIntent {
                base,
                nonce,
                customer_id,
                paymethod_id,
            } => Ok(Ok(self.open_intent(
                base,
                nonce,
                customer_id,
                *paymethod_id,
            )?)),
            Command::Register {
                method,
                payment,
                intent,
                idempotency,
            } => {
                if self.paymethods.get(method.id.0)?.is_some() {
                    return Ok(Err(Rejected::VersionConflict));
                }
                if !self.intent_is_open(intent)? {
                    return Ok(Err(Rejected::IntentClosed));
                }
                self.close_intent(intent)?;
                let outcome = self.store_verified(method.clone(), payment, None)?;
                if let (Ok(stored), Some(claim)) = (&outcome, idempotency) {
                    let mut method = method.clone();
                    method.verification_payment_id =
                        stored.payment_id.unwrap_or(method.verification_payment_id);
                    method.last_position = stored.position.unwrap_or(method.last_position);
                    let customer = method.customer_id.clone();
                    self.remember(&customer, claim, IdempotentOutcome::Registered { method })?;
                }
                Ok(outcome)
            }
            Command::RecordDeclined {
                payment,
                intent,
                idempotency,
            } => {
                if !self.intent_is_open(intent)? {
                    return Ok(Err(Rejected::IntentClosed));
                }
                self.close_intent(intent)?;
                let payment_id = self.insert_payment(payment.clone())?;
                if let Some(claim) = idempotency {
                    let outcome = IdempotentOutcome::Declined { payment_id };
                    self.remember(&payment.customer_id, claim, outcome)?;
                }
                Ok(Ok(Outcome {
                    payment_id: Some(payment_id),
                    ..Outcome::default()
                }))
            }
            Command::Change {
                method,
                expected_version,
                previous,
                payment,
                intent,
            } => {
                if self.stored_version(method.id)? != Some(*expected_version) {
                    return Ok(Err(Rejected::VersionConflict));
                }
                if !self.intent_is_open(intent)? {
                    return Ok(Err(Rejected::IntentClosed));
                }
                self.close_intent(intent)?;
                self.store_verified(method.clone(), payment, Some(previous.clone()))
            }
            Command::Remove {
                id,
                expected_version,
            } => self.remove(*id, *expected_version),
            Command::RecordMessages {
                messages,
                checkpoint,
            } => {
                for message in messages {
                    self.insert_message(message)?;
                }
                self.checkpoints.insert(NOTIFIER, checkpoint.0)?;
                Ok(Ok(Outcome::default()))
            }
            Command::RecordDelivery { message, attempt } => {
                if self.messages.get(message.id.0)?.is_none() {
                    return Ok(Err(Rejected::VersionConflict));
                }
                self.put_message(message)?;
                if let Some(attempt) = attempt {
                    self.attempts
                        .insert((message.id.0, attempt.number), encode(attempt)?.as_slice())?;
                }
                Ok(Ok(Outcome::default()))
            }
            Command::ProjectViews {
                changes,
                checkpoint,
            } => {
                for change in changes {
                    self.change_view(change)?;
                }
                self.checkpoints.insert(PROJECTOR, checkpoint.0)?;
                Ok(Ok(Outcome::default()))
            }
            Command::ResolveIntent {
                intent,
                opened_at,
                verdict,
            } => self.resolve_intent(intent, *opened_at, verdict),
            Command::OweRefund { refund } => {
                self.owe_refund(refund)?;
                Ok(Ok(Outcome::default()))
            }
            Command::RecordRefund {
                authorization,
                payment,
            } => Ok(Ok(self.record_refund(authorization, payment)?)),
            Command::Prune { before, limit } => Ok(Ok(self.prune(*before, *limit)?)),
            Command::PutMeta { name, value } => {
                self.meta.insert(*name, value.as_slice())?;
                Ok(Ok(Outcome::default()))
            }
            Command::ReserveIds { count } => {
                let first = self.seq.paymethod;
                self.seq.paymethod += count;
                Ok(Ok(Outcome {
                    first_id: Some(first),
                    ..Outcome::default()
                }))
            }
        }
    }

    /// Stores an approved payment, the method that it verified and the event, together:
    /// `PaymentMethodRegistered`, or `PaymentMethodChanged` when there are `previous` attributes.
    fn store_verified(
        &mut self,
        mut method: PaymentMethod,
        payment: &Payment,
        previous: Option<MaskedAttrs>,
    ) -> Result<Result<Outcome, Rejected>, StoreError> {
        let mut payment = payment.clone();
        payment.paymethod_id = Some(method.id);
        method.verification_payment_id = self.insert_payment(payment)?;
        let snapshot = method.snapshot();
        let kind = match previous {
            None => EventKind::PaymentMethodRegistered { method: snapshot },
            Some(previous) => EventKind::PaymentMethodChanged {
                previous,
                method: snapshot,
            },
        };
        let position = self.append_event(&method, kind)?;
        let payment_id = method.verification_payment_id;
        method.last_position = position;
        self.paymethods
            .insert(method.id.0, encode(&method)?.as_slice())?;
        self.by_customer.insert(
            (method.customer_id.as_str(), OF_PAYMETHODS, method.id.0),
            (),
        )?;
        Ok(Ok(Outcome {
            position: Some(position),
            payment_id: Some(payment_id),
            ..Outcome::default()
        }))
    }

    fn remove(
        &mut self,
        id: PaymethodId,
        expected: u64,
    ) -> Result<Result<Outcome, Rejected>, StoreError> {
        let Some(bytes) = self.paymethods.remove(id.0)? else {
            return Ok(Err(Rejected::VersionConflict));
        };
        let method: PaymentMethod = super::codec::decode(bytes.value())?;
        drop(bytes);
        if method.version != expected {
            // Put it back untouched: this command writes nothing.
            self.paymethods.insert(id.0, encode(&method)?.as_slice())?;
            return Ok(Err(Rejected::VersionConflict));
        }
        self.by_customer
            .remove((method.customer_id.as_str(), OF_PAYMETHODS, id.0))?;
        let kind = EventKind::PaymentMethodRemoved {
            attrs: method.attrs(),
        };
        let mut gone = method;
        gone.version += 1; // a removal is one more change
        let position = self.append_event(&gone, kind)?;
        Ok(Ok(Outcome {
            position: Some(position),
            ..Outcome::default()
        }))
    }

    fn remember(
        &mut self,
        customer: &crate::domain::CustomerId,
        claim: &IdempotencyClaim,
        outcome: IdempotentOutcome,
    ) -> Result<(), StoreError> {
        let record = IdempotencyRecord {
            fingerprint: claim.fingerprint.clone(),
            outcome,
            created_at: Timestamp::now(),
        };
        let key = (customer.as_str(), claim.key.as_str());
        // The first outcome stays: a key is claimed while its request runs, so a second
        // outcome can only come from a bug, and must not replace what was answered first.
        if self.idempotency.get(key)?.is_none() {
            self.idempotency.insert(key, encode(&record)?.as_slice())?;
            let at = intents::index_ms(record.created_at);
            self.idempotency_by_time.insert((at, key.0, key.1), ())?;
        }
        Ok(())
    }

    fn stored_version(&self, id: PaymethodId) -> Result<Option<u64>, StoreError> {
        match self.paymethods.get(id.0)? {
            Some(bytes) => Ok(Some(
                super::codec::decode::<PaymentMethod>(bytes.value())?.version,
            )),
            None => Ok(None),
        }
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

    fn append_event(
        &mut self,
        method: &PaymentMethod,
        kind: EventKind,
    ) -> Result<Position, StoreError> {
        let position = Position(self.seq.position);
        self.seq.position += 1;
        let event = Event {
            position,
            paymethod_id: method.id,
            customer_id: method.customer_id.clone(),
            version: method.version,
            recorded_at: Timestamp::now(),
            kind,
        };
        self.events.insert(position.0, encode(&event)?.as_slice())?;
        // The event's message (its id is the position) is listed for the customer from here,
        // in this command's page of the index; the notifier creates it later, and a listing
        // shows it from then on.
        self.by_customer
            .insert((method.customer_id.as_str(), OF_MESSAGES, position.0), ())?;
        Ok(position)
    }
}
