//! Messages to the customer: exactly one per event, with text that shows masked numbers only.

use super::{
    CustomerId, Event, Kind, MaskedAttrs, MessageId, Payload, PaymethodEvent, PaymethodId,
    Position, Timestamp,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageStatus {
    Pending,
    Delivered,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// A message as stored. Its `id` is its event's position (so an event has at most one
/// message) and everything but the delivery state is a function of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub event_id: Position,
    pub customer_id: CustomerId,
    pub paymethod_id: PaymethodId,
    /// The event's type name, e.g. `PaymentMethodRegistered`.
    pub kind: String,
    pub text: String,
    pub status: MessageStatus,
    pub attempts: u32,
    /// When the event was recorded.
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

impl Message {
    /// The message for `event`, not yet delivered.
    pub fn for_event(event: &Event) -> Self {
        let (paymethod_id, text) = match &event.payload {
            Payload::Paymethod(e) => (PaymethodId(event.aggregate_id), text_for(e)),
        };
        Self {
            id: MessageId(event.position.0),
            event_id: event.position,
            customer_id: event.customer_id.clone(),
            paymethod_id,
            kind: event.name().to_owned(),
            text,
            status: MessageStatus::Pending,
            attempts: 0,
            created_at: event.recorded_at,
            delivered_at: None,
        }
    }

    /// Records an attempt's result: delivered, or failed when `last` (no retry follows).
    pub fn attempted(&mut self, ok: bool, last: bool, at: Timestamp) {
        self.attempts += 1;
        if ok {
            self.status = MessageStatus::Delivered;
            self.delivered_at = Some(at);
        } else if last {
            self.status = MessageStatus::Failed;
        }
    }
}

/// Where a message goes. The inbox (`GET /messages`) always has it; the webhook is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    Inbox,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::Webhook => "webhook",
        }
    }
}

/// One try at delivering a message through a channel, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt of the message, then 2, 3, ...
    pub number: u32,
    pub channel: Channel,
    pub at: Timestamp,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// Why it failed, when it did (a timeout, a refused connection, a non-2xx answer).
    pub error: Option<String>,
}

fn describe(attrs: &MaskedAttrs) -> String {
    let what = match attrs.kind {
        Kind::Card => "card",
        Kind::Bank => "bank account",
    };
    format!("{what} ending {}", attrs.last4)
}

/// The text of an event's message: masked attributes only.
pub fn text_for(event: &PaymethodEvent) -> String {
    match event {
        PaymethodEvent::Registered { method } => {
            format!("Your {} was registered.", describe(&method.attrs()))
        }
        PaymethodEvent::Changed { previous, method } => format!(
            "Your {} was changed to your {}.",
            describe(previous),
            describe(&method.attrs())
        ),
        PaymethodEvent::Removed { attrs } => {
            format!("Your {} was removed.", describe(attrs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Brand, PaymentId, PaymentMethod};

    fn snapshot(kind: Kind, brand: Option<Brand>, last4: &str) -> PaymentMethod {
        PaymentMethod {
            id: PaymethodId(1),
            customer_id: CustomerId::parse("alice").unwrap(),
            kind,
            brand,
            last4: last4.into(),
            request_id: None,
            version: 1,
            verification_payment_id: PaymentId(1),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn texts_name_the_kind_and_last_four_digits_only() {
        let card = snapshot(Kind::Card, Some(Brand::Visa), "4242");
        let bank = snapshot(Kind::Bank, None, "6789");
        assert_eq!(
            text_for(&PaymethodEvent::Registered {
                method: card.clone()
            }),
            "Your card ending 4242 was registered."
        );
        assert_eq!(
            text_for(&PaymethodEvent::Changed {
                previous: card.attrs(),
                method: bank.clone()
            }),
            "Your card ending 4242 was changed to your bank account ending 6789."
        );
        assert_eq!(
            text_for(&PaymethodEvent::Removed {
                attrs: bank.attrs()
            }),
            "Your bank account ending 6789 was removed."
        );
    }

    #[test]
    fn an_attempt_delivers_or_on_the_last_try_fails() {
        let mut m = Message {
            id: MessageId(4),
            event_id: Position(4),
            customer_id: CustomerId::parse("alice").unwrap(),
            paymethod_id: PaymethodId(1),
            kind: "PaymentMethodRegistered".into(),
            text: String::new(),
            status: MessageStatus::Pending,
            attempts: 0,
            created_at: Timestamp(0),
            delivered_at: None,
        };
        m.attempted(false, false, Timestamp(1));
        assert_eq!((m.status, m.attempts), (MessageStatus::Pending, 1));
        m.attempted(false, true, Timestamp(2));
        assert_eq!((m.status, m.attempts), (MessageStatus::Failed, 2));
        m.attempted(true, false, Timestamp(3));
        assert_eq!(m.status, MessageStatus::Delivered);
        assert_eq!(m.delivered_at, Some(Timestamp(3)));
    }
}
