//! Messages to the customer: exactly one per event of the kinds the customer hears of (a
//! payment method registered, changed or removed; an order placed, shipped, cancelled or its
//! cancellation refused), with text that shows masked numbers only.

use super::order::OrderEvent;
use super::{
    CustomerId, Event, Kind, MaskedAttrs, MessageId, OrderId, Payload, PaymethodEvent, PaymethodId,
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
    /// The payment method a payment-method event is about.
    pub paymethod_id: Option<PaymethodId>,
    /// The order an order event is about.
    pub order_id: Option<OrderId>,
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
    /// The message for `event`, not yet delivered; `None` for an event the customer does not
    /// hear of (a cancellation asked for, a shipment's own events).
    pub fn for_event(event: &Event) -> Option<Self> {
        let (paymethod_id, order_id, text) = match &event.payload {
            Payload::Paymethod(e) => (Some(PaymethodId(event.aggregate_id)), None, text_for(e)),
            Payload::Order(e) => (None, Some(OrderId(event.aggregate_id)), order_text(e)?),
            Payload::Shipment(_) => return None,
        };
        Some(Self {
            id: MessageId(event.position.0),
            event_id: event.position,
            customer_id: event.customer_id.clone(),
            paymethod_id,
            order_id,
            kind: event.name().to_owned(),
            text,
            status: MessageStatus::Pending,
            attempts: 0,
            created_at: event.recorded_at,
            delivered_at: None,
        })
    }

    /// Whether `event` has a message (see [`Message::for_event`]).
    pub fn is_for(event: &Event) -> bool {
        Self::is_for_payload(&event.payload)
    }

    /// Whether an event with `payload` has a message (all it depends on).
    pub fn is_for_payload(payload: &Payload) -> bool {
        match payload {
            Payload::Paymethod(_) => true,
            Payload::Order(e) => !matches!(e, OrderEvent::CancellationRequested { .. }),
            Payload::Shipment(_) => false,
        }
    }

    /// The aggregate the message is about: its deliveries keep that aggregate's order.
    pub fn subject(&self) -> Subject {
        match (self.paymethod_id, self.order_id) {
            (_, Some(order)) => Subject::Order(order),
            (Some(method), None) => Subject::Paymethod(method),
            (None, None) => Subject::Customer(self.customer_id.clone()),
        }
    }
}

/// What a message is about, for keeping one subject's messages in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Paymethod(PaymethodId),
    Order(OrderId),
    Customer(CustomerId),
}

impl Message {
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

/// An amount as the customer reads it: `38,000 KRW`.
pub fn krw(amount: u64) -> String {
    thousands(amount) + " KRW"
}

/// A number with its thousands grouped: `38,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text of an order event's message; `None` for the one the customer is not told of.
pub fn order_text(event: &OrderEvent) -> Option<String> {
    let order = event.order();
    Some(match event {
        OrderEvent::Placed { .. } => format!(
            "Your order #{} was placed and {} charged.",
            order.id,
            krw(order.total)
        ),
        OrderEvent::Shipped { .. } => format!("Your order #{} was shipped.", order.id),
        OrderEvent::Cancelled { refunded, .. } => format!(
            "Your order #{} was cancelled and {} refunded.",
            order.id,
            krw(*refunded)
        ),
        OrderEvent::CancellationRefused { .. } => format!(
            "Your order #{} had already shipped, so it could not be cancelled.",
            order.id
        ),
        OrderEvent::CancellationRequested { .. } => return None,
    })
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
    fn amounts_read_in_krw_with_thousands_separated() {
        assert_eq!(krw(0), "0 KRW");
        assert_eq!(krw(999), "999 KRW");
        assert_eq!(krw(38_000), "38,000 KRW");
        assert_eq!(krw(100_000_000), "100,000,000 KRW");
    }

    #[test]
    fn an_attempt_delivers_or_on_the_last_try_fails() {
        let mut m = Message {
            id: MessageId(4),
            event_id: Position(4),
            customer_id: CustomerId::parse("alice").unwrap(),
            paymethod_id: Some(PaymethodId(1)),
            order_id: None,
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
