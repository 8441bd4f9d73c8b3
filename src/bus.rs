//! NATS JetStream as the events' way between replicas (issue 16): one stream holds the event
//! log as the relay publishes it, in commit order; the readers of the log (notifier,
//! projector, saga, shipping) are durable pull consumers with explicit acks.
//!
//! Delivery is at least once, from both ends: the relay may publish an event again after a
//! crash (JetStream drops a second message with the same `Nats-Msg-Id`, the event's position,
//! but only within the stream's duplicate window), and a consumer may be handed a message
//! again (an ack after `ack_wait` is answered Ok and the message still comes back). So a
//! consumer deduplicates by the event's place in commit order, which every message carries
//! ([`Delivered::cursor`]).

use crate::domain::{CustomerId, Event, Timestamp};
use crate::store::decode;
use crate::store::postgres::{Cursor, LoggedEvent, NewEvent};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::PullConsumer, stream};
use std::time::Duration;

/// The stream that carries the event log unless `--events` names another.
pub const DEFAULT_STREAM: &str = "PAYTREE_EVENTS";

/// The NATS server's URL and the stream's name in an `--events` URL,
/// `nats://host:port[/STREAM]`; `None` if the stream's name is not one JetStream takes
/// (letters, digits, `-` and `_`).
pub fn events_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("nats://")?;
    let (server, stream) = match rest.split_once('/') {
        Some((server, "")) => (server, DEFAULT_STREAM),
        Some((server, stream)) => (server, stream),
        None => (rest, DEFAULT_STREAM),
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    (!server.is_empty() && stream.chars().all(valid))
        .then(|| (format!("nats://{server}"), stream.to_owned()))
}

/// How long JetStream remembers a `Nats-Msg-Id` to drop a second publication of it.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

const XID: &str = "Paytree-Xid";
const POSITION: &str = "Paytree-Position";
const KIND: &str = "Paytree-Kind";
const AGGREGATE: &str = "Paytree-Aggregate";
const VERSION: &str = "Paytree-Version";
const CUSTOMER: &str = "Paytree-Customer";
const RECORDED_AT: &str = "Paytree-Recorded-At";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("nats: {0}")]
    Nats(String),
    #[error("a message without what paytree puts in every event: {0}")]
    Malformed(&'static str),
}

fn nats(e: impl std::fmt::Display) -> BusError {
    BusError::Nats(e.to_string())
}

/// A connection to JetStream and the events' stream.
#[derive(Clone)]
pub struct Bus {
    js: jetstream::Context,
    stream: String,
}

impl Bus {
    /// Connects to `url` and makes sure the stream `stream` exists (subjects `<stream>.>`).
    pub async fn connect(url: &str, stream: &str) -> Result<Self, BusError> {
        let client = async_nats::connect(url).await.map_err(nats)?;
        let js = jetstream::new(client);
        js.get_or_create_stream(stream::Config {
            name: stream.to_owned(),
            subjects: vec![format!("{stream}.>")],
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
        Ok(Self {
            js,
            stream: stream.to_owned(),
        })
    }

    /// Publishes `events` in their order and waits for every ack; how many JetStream took
    /// as new (the rest it dropped as duplicates of an earlier publication).
    pub async fn publish(&self, events: &[LoggedEvent]) -> Result<usize, BusError> {
        let mut acks = Vec::with_capacity(events.len());
        // Sent one after another without waiting, so they are stored in this order; the
        // acks are awaited together.
        for logged in events {
            let e = &logged.event;
            let mut headers = HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                logged.cursor.position.to_string().as_str(),
            );
            headers.insert(XID, logged.cursor.xid.to_string().as_str());
            headers.insert(POSITION, logged.cursor.position.to_string().as_str());
            headers.insert(KIND, e.kind.as_str());
            headers.insert(AGGREGATE, e.aggregate.to_string().as_str());
            headers.insert(VERSION, e.version.to_string().as_str());
            headers.insert(CUSTOMER, e.customer.as_str());
            headers.insert(RECORDED_AT, logged.recorded_at.to_string().as_str());
            let subject = format!("{}.{}", self.stream, e.kind);
            let ack = self
                .js
                .publish_with_headers(subject, headers, e.payload.clone().into())
                .await
                .map_err(nats)?;
            acks.push(ack);
        }
        let mut new = 0;
        for ack in acks {
            if !ack.await.map_err(nats)?.duplicate {
                new += 1;
            }
        }
        Ok(new)
    }

    /// The durable pull consumer `group` made anew to deliver from the stream's message
    /// `start` on (explicit acks; a message not acked within `ack_wait` is delivered again;
    /// at most `in_flight` handed out unacked). A reader that takes a group over starts it
    /// where the group's checkpoint says, rather than trust what an earlier reader left
    /// unacked.
    pub async fn consumer_from(
        &self,
        group: &str,
        start: u64,
        ack_wait: Duration,
        in_flight: usize,
    ) -> Result<PullConsumer, BusError> {
        let stream = self.js.get_stream(&self.stream).await.map_err(nats)?;
        // Absent the first time; any other failure shows in the creation.
        let _ = stream.delete_consumer(group).await;
        stream
            .create_consumer(jetstream::consumer::pull::Config {
                durable_name: Some(group.to_owned()),
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start.max(1),
                },
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait,
                max_ack_pending: in_flight.max(1) as i64,
                ..Default::default()
            })
            .await
            .map_err(nats)
    }
}

/// An event as a consumer receives it.
#[derive(Debug)]
pub struct Delivered {
    pub cursor: Cursor,
    /// Its sequence number in the stream.
    pub stream: u64,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub recorded_at: i64,
    pub event: NewEvent,
    pub message: jetstream::Message,
}

impl Delivered {
    /// Reads paytree's headers off a message.
    pub fn from_message(message: jetstream::Message) -> Result<Self, BusError> {
        let headers = message
            .headers
            .as_ref()
            .ok_or(BusError::Malformed("headers"))?;
        let text = |name: &'static str| -> Result<String, BusError> {
            headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .ok_or(BusError::Malformed(name))
        };
        let number = |name: &'static str| -> Result<i64, BusError> {
            text(name)?.parse().map_err(|_| BusError::Malformed(name))
        };
        let stream = message
            .info()
            .map_err(|_| BusError::Malformed("stream sequence"))?
            .stream_sequence;
        Ok(Self {
            stream,
            cursor: Cursor {
                xid: text(XID)?.parse().map_err(|_| BusError::Malformed(XID))?,
                position: number(POSITION)?,
            },
            recorded_at: number(RECORDED_AT)?,
            event: NewEvent {
                kind: text(KIND)?,
                aggregate: number(AGGREGATE)?,
                version: number(VERSION)?,
                customer: text(CUSTOMER)?,
                payload: message.payload.to_vec(),
            },
            message,
        })
    }
}

impl Delivered {
    /// The event as the log's readers take it.
    pub fn to_event(&self) -> Result<Event, BusError> {
        let number = |n: i64, what| u64::try_from(n).map_err(|_| BusError::Malformed(what));
        Ok(Event {
            position: self.cursor.position(),
            aggregate_id: number(self.event.aggregate, AGGREGATE)?,
            customer_id: CustomerId::parse(&self.event.customer)
                .map_err(|_| BusError::Malformed(CUSTOMER))?,
            version: number(self.event.version, VERSION)?,
            recorded_at: Timestamp(self.recorded_at),
            payload: decode(&self.event.payload).map_err(|_| BusError::Malformed("payload"))?,
        })
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bus({})", self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_url_names_the_server_and_perhaps_the_stream() {
        let url = events_url;
        let both = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(
            url("nats://bus:4222"),
            both("nats://bus:4222", DEFAULT_STREAM)
        );
        assert_eq!(
            url("nats://bus:4222/"),
            both("nats://bus:4222", DEFAULT_STREAM)
        );
        assert_eq!(
            url("nats://bus:4222/T_1-x"),
            both("nats://bus:4222", "T_1-x")
        );
        for bad in [
            "http://bus",
            "nats://",
            "nats://bus/a.b",
            "nats://bus/a/b",
            "nats://bus/*",
        ] {
            assert_eq!(url(bad), None, "{bad}");
        }
    }
}
