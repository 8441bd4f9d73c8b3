//! The notifier (the seed's notification service). It tails the event log from its own durable
//! checkpoint and creates exactly one message per event, stored with the checkpoint in one
//! write (a message's id is its event's position, so a redelivery creates nothing twice).
//! Every message is in the inbox (`GET /messages`) at once. With a webhook configured, each is
//! also POSTed there, per subject (a payment method, an order) in event order, retried on the configured schedule
//! with jitter, every attempt recorded; after the last retry it is `failed`.
//!
//! Nothing here is on a command's path: a slow or dead webhook only grows the queue. A failure
//! to read or write is returned from `handle`, so the supervisor restarts the notifier with
//! backoff; the new incarnation resumes from the checkpoint and the pending messages.

pub mod handle;

mod again;
pub mod webhook;

use super::kernel::{LogTail, Writer, is_outage};
use crate::domain::message::Subject;
use crate::domain::message::{Channel, DeliveryAttempt, Message};
use crate::domain::{MessageId, Position, Timestamp};
use crate::store::{self, NOTIFIER, Store};
use crate::telemetry::names;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use webhook::Webhook;

/// Webhook calls in flight at once, over all subjects.
const MAX_SENDING: usize = 32;
/// The error recorded for a message that failed because no webhook is configured.
const NO_WEBHOOK: &str = "not sent: no webhook is configured";

pub struct NotifierActor;

/// The webhook and how hard to try it.
#[derive(Clone, Debug)]
pub struct WebhookChannel {
    pub webhook: Webhook,
    /// Base wait before retry 1, 2, ...; each is jittered down to as little as half.
    pub retries: Arc<[Duration]>,
}

pub struct NotifierArgs {
    pub store: Store,
    pub writer: Writer,
    pub commits: watch::Receiver<Position>,
    pub webhook: Option<WebhookChannel>,
}

pub struct NotifierState {
    tail: LogTail,
    webhook: Option<WebhookChannel>,
    /// Messages waiting for the webhook, per subject, in event order.
    queues: HashMap<Subject, VecDeque<Queued>>,
    /// Payment methods whose first message is being sent or waits for its retry.
    busy: HashSet<Subject>,
    sending: Arc<Semaphore>,
}

struct Queued {
    message: Message,
    /// Attempts in this round (a restart or a redelivery starts a new round).
    tries: u32,
}

/// Why a message cannot be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeliverError {
    NotFound,
    /// There is no channel but the inbox, which has every message already.
    NoWebhook,
    /// It is still queued or between retries.
    StillPending,
    Unavailable,
}

pub enum NotifierMessage {
    /// Handle every event recorded after the checkpoint.
    CatchUp,
    /// A webhook attempt for the first queued message about a subject finished.
    Attempted(Subject, MessageId, DeliveryAttempt),
    /// The wait before a subject's next retry is over.
    Retry(Subject),
    /// Send a delivered or failed message again (a new round of attempts).
    Redeliver(
        MessageId,
        crate::auth::AuditEntry,
        RpcReplyPort<Result<Message, RedeliverError>>,
    ),
    /// Something this actor started could not finish: fail, and be restarted.
    Failed(String),
    /// Test hook: fail the way a bug would.
    Panic,
}

impl Actor for NotifierActor {
    type Msg = NotifierMessage;
    type State = NotifierState;
    type Arguments = NotifierArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: NotifierArgs,
    ) -> Result<NotifierState, ActorProcessingErr> {
        let tail = LogTail::start(
            NOTIFIER,
            names::NOTIFIER_LAG,
            args.store,
            args.writer,
            args.commits,
            &myself,
            || NotifierMessage::CatchUp,
        )
        .await?;
        let mut state = NotifierState {
            tail,
            webhook: args.webhook,
            queues: HashMap::new(),
            busy: Default::default(),
            sending: Arc::new(Semaphore::new(MAX_SENDING)),
        };
        let pending = state.tail.store().pending_messages().await?;
        match state.webhook {
            Some(_) => state.enqueue(&myself, pending),
            None => state.fail_for_want_of_a_webhook(pending).await?,
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut NotifierState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NotifierMessage::CatchUp => {
                let caught_up = state.catch_up(&myself).await;
                state.tail.unless_outage(caught_up)?
            }
            NotifierMessage::Attempted(subject, id, attempt) => {
                state.attempted(&myself, subject, id, attempt)?
            }
            NotifierMessage::Retry(subject) => {
                state.busy.remove(&subject);
                state.start(&myself, subject);
            }
            NotifierMessage::Redeliver(id, audit, reply) => {
                let result = state.redeliver(&myself, id, audit).await;
                let _ = reply.send(result);
            }
            NotifierMessage::Failed(why) => return Err(why.into()),
            NotifierMessage::Panic => panic!("test hook: the notifier panics"),
        }
        Ok(())
    }
}

impl NotifierState {
    async fn catch_up(
        &mut self,
        myself: &ActorRef<NotifierMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let events = self.tail.batch().await?;
        if events.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let inbox_only = self.webhook.is_none();
        let messages: Vec<Message> = events
            .iter()
            .filter_map(Message::for_event)
            .map(|mut m| {
                if inbox_only {
                    m.attempted(true, true, now);
                }
                m
            })
            .collect();
        let recorded = messages.clone();
        let more = self
            .tail
            .advance(&events, |checkpoint| store::RecordMessages {
                messages: recorded,
                checkpoint,
            })
            .await?;
        if inbox_only {
            let done = Timestamp::now();
            for m in &messages {
                record_delivered(Channel::Inbox, m, done);
            }
        } else {
            self.enqueue(myself, messages);
        }
        if more {
            myself.send_message(NotifierMessage::CatchUp)?;
        }
        Ok(())
    }

    /// Queues messages for the webhook (in id order) and starts their subjects.
    fn enqueue(&mut self, myself: &ActorRef<NotifierMessage>, messages: Vec<Message>) {
        let mut touched = Vec::new();
        for message in messages {
            let subject = message.subject();
            self.queues
                .entry(subject.clone())
                .or_default()
                .push_back(Queued { message, tries: 0 });
            touched.push(subject);
        }
        for subject in touched {
            self.start(myself, subject);
        }
        self.count_pending();
    }

    /// Sends the first queued message about `subject`, unless one is already on its way.
    fn start(&mut self, myself: &ActorRef<NotifierMessage>, subject: Subject) {
        let (Some(channel), Some(head)) = (
            &self.webhook,
            self.queues.get(&subject).and_then(|q| q.front()),
        ) else {
            return;
        };
        if !self.busy.insert(subject.clone()) {
            return;
        }
        let webhook = channel.webhook.clone();
        let message = head.message.clone();
        let number = message.attempts + 1;
        let sending = self.sending.clone();
        let reply = myself.clone();
        tokio::spawn(async move {
            let Ok(_permit) = sending.acquire_owned().await else {
                return;
            };
            let attempt = webhook.send(&message, number).await;
            let _ = reply.send_message(NotifierMessage::Attempted(subject, message.id, attempt));
        });
    }

    fn attempted(
        &mut self,
        myself: &ActorRef<NotifierMessage>,
        subject: Subject,
        id: MessageId,
        attempt: DeliveryAttempt,
    ) -> Result<(), ActorProcessingErr> {
        self.busy.remove(&subject);
        let retries = match &self.webhook {
            Some(channel) => channel.retries.clone(),
            None => return Ok(()),
        };
        let Some(queue) = self.queues.get_mut(&subject) else {
            return Ok(());
        };
        let Some(head) = queue.front_mut().filter(|q| q.message.id == id) else {
            self.start(myself, subject);
            return Ok(());
        };
        metrics::counter!(
            names::DELIVERY_ATTEMPTS,
            "channel" => Channel::Webhook.as_str(),
            "outcome" => attempt.outcome()
        )
        .increment(1);
        let ok = attempt.succeeded();
        let last = !ok && head.tries as usize >= retries.len();
        let finished = Timestamp(attempt.at.0 + attempt.duration_ms as i64);
        head.message.attempted(ok, last, finished);
        let message = head.message.clone();
        if !ok && !last {
            tracing::debug!(message = id.0, tries = head.tries + 1, error = ?attempt.error, "webhook attempt failed; will retry");
        }
        // Sent now, so the records of one message commit in the order they happened; nothing
        // waits for the commit (a crash before it only means the message is sent again).
        let commit = self.tail.writer().send(store::RecordDelivery {
            message: message.clone(),
            attempt: Some(attempt),
            audit: None,
        })?;
        let wait = self.tail.writer().wait();
        let watcher = myself.clone();
        let store_back = self.tail.store_back();
        tokio::spawn(async move {
            if let Err(e) = commit.committed(wait).await {
                tracing::error!(error = %e, "recording a delivery attempt failed");
                // The notifier restarts from the store's pending messages: once it reads.
                if is_outage(&e) {
                    store_back.await;
                }
                let _ = watcher.send_message(NotifierMessage::Failed(e.to_string()));
            }
        });
        if ok || last {
            queue.pop_front();
            if queue.is_empty() {
                self.queues.remove(&subject);
            }
            if ok {
                record_delivered(Channel::Webhook, &message, finished);
            } else {
                tracing::warn!(
                    message = id.0,
                    attempts = message.attempts,
                    "webhook delivery failed after the last retry"
                );
                record_failed(1);
            }
            self.count_pending();
            self.start(myself, subject);
        } else {
            let base = retries[head.tries as usize];
            head.tries += 1;
            self.busy.insert(subject.clone());
            myself.send_after(jitter(base), move || NotifierMessage::Retry(subject));
        }
        Ok(())
    }

    fn count_pending(&self) {
        let pending: usize = self.queues.values().map(VecDeque::len).sum();
        metrics::gauge!(names::MESSAGES_PENDING).set(pending as f64);
    }
}

fn record_delivered(channel: Channel, message: &Message, at: Timestamp) {
    let delay = (at.0 - message.created_at.0).max(0) as f64 / 1_000.0;
    metrics::histogram!(names::DELIVERY_DELAY, "channel" => channel.as_str()).record(delay);
    metrics::counter!(names::DELIVERIES, "channel" => channel.as_str(), "outcome" => "delivered")
        .increment(1);
}

fn record_failed(messages: usize) {
    metrics::counter!(names::DELIVERIES, "channel" => Channel::Webhook.as_str(), "outcome" => "failed")
        .increment(messages as u64);
}

/// A wait between half of `base` and `base`, at random, so receivers that recover are not
/// hit by every sender at the same moment.
fn jitter(base: Duration) -> Duration {
    let half = base / 2;
    half + base.mul_f64(rand::rng().random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_the_whole_wait() {
        for _ in 0..1_000 {
            let d = jitter(Duration::from_millis(1_000));
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1_000));
        }
    }
}
