//! Messages to the customer: exactly one per event, with text that shows masked numbers only.

use super::{CustomerId, Event, EventKind, Kind, MaskedAttrs, PaymethodId, Position, Timestamp};
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

/// A message as stored. `id` is assigned by the store; `event_id` is the event's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    pub event_id: Position,
    pub customer_id: CustomerId,
    pub paymethod_id: PaymethodId,
    /// The event's type name, e.g. `PaymentMethodRegistered`.
    pub kind: String,
    pub text: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

impl Message {
    /// The message for `event`, delivered to the inbox at `now` (the inbox is always a
    /// channel, so a message without other channels is delivered when it is created).
    pub fn for_event(event: &Event, now: Timestamp) -> Self {
        Self {
            id: 0,
            event_id: event.position,
            customer_id: event.customer_id.clone(),
            paymethod_id: event.paymethod_id,
            kind: event.kind.name().to_owned(),
            text: text_for(&event.kind),
            status: MessageStatus::Delivered,
            attempts: 1,
            created_at: now,
            delivered_at: Some(now),
        }
    }
}

fn describe(attrs: &MaskedAttrs) -> String {
    let what = match attrs.kind {
        Kind::Card => "card",
        Kind::Bank => "bank account",
    };
    format!("{what} ending {}", attrs.last4)
}

/// The text of an event's message: masked attributes only.
pub fn text_for(kind: &EventKind) -> String {
    match kind {
        EventKind::PaymentMethodRegistered { attrs } => {
            format!("Your {} was registered.", describe(attrs))
        }
        EventKind::PaymentMethodChanged { previous, attrs } => format!(
            "Your {} was changed to your {}.",
            describe(previous),
            describe(attrs)
        ),
        EventKind::PaymentMethodRemoved { attrs } => {
            format!("Your {} was removed.", describe(attrs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Brand;

    #[test]
    fn texts_name_the_kind_and_last_four_digits_only() {
        let card = MaskedAttrs {
            kind: Kind::Card,
            brand: Some(Brand::Visa),
            last4: "4242".into(),
        };
        let bank = MaskedAttrs {
            kind: Kind::Bank,
            brand: None,
            last4: "6789".into(),
        };
        assert_eq!(
            text_for(&EventKind::PaymentMethodRegistered {
                attrs: card.clone()
            }),
            "Your card ending 4242 was registered."
        );
        assert_eq!(
            text_for(&EventKind::PaymentMethodChanged {
                previous: card.clone(),
                attrs: bank.clone()
            }),
            "Your card ending 4242 was changed to your bank account ending 6789."
        );
        assert_eq!(
            text_for(&EventKind::PaymentMethodRemoved { attrs: bank }),
            "Your bank account ending 6789 was removed."
        );
    }
}
