//! The shapes of messages, their delivery attempts and the mypage view.

use super::PaymentMethodView;
use crate::actors::MypageRead;
use crate::domain::message::{DeliveryAttempt, Message, MessageStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatusView {
    Pending,
    Delivered,
    Failed,
}

/// A message to the customer about one event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: u64,
    /// The event's position in the log; receivers deduplicate by it.
    pub event_id: u64,
    pub customer_id: String,
    /// The payment method a payment-method event is about (`null` for an order's).
    pub paymethod_id: Option<u64>,
    /// The order an order event is about (`null` for a payment method's).
    pub order_id: Option<u64>,
    /// `PaymentMethodRegistered`, `PaymentMethodChanged`, `PaymentMethodRemoved`,
    /// `OrderPlaced`, `OrderShipped`, `OrderCancelled` or `OrderCancellationRefused`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(example = "Your card ending 4242 was registered.")]
    pub text: String,
    pub status: MessageStatusView,
    pub attempts: u32,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.0,
            event_id: m.event_id.0,
            customer_id: m.customer_id.to_string(),
            paymethod_id: m.paymethod_id.map(|id| id.0),
            order_id: m.order_id.map(|id| id.0),
            kind: m.kind.clone(),
            text: m.text.clone(),
            status: match m.status {
                MessageStatus::Pending => MessageStatusView::Pending,
                MessageStatus::Delivered => MessageStatusView::Delivered,
                MessageStatus::Failed => MessageStatusView::Failed,
            },
            attempts: m.attempts,
            created_at: m.created_at.to_rfc3339(),
            delivered_at: m.delivered_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A page of messages, ordered by id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    pub next_after: Option<u64>,
}

/// `GET /messages`: whose messages, and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// Whose messages. Required, except with a `customer` key (its own).
    #[param(
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$"
    )]
    pub customer_id: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only ids greater than this.
    #[param(minimum = 0)]
    pub after: Option<u64>,
}

/// `GET /mypages/{customerId}` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MypageQuery {
    /// Wait (at most 2 s) until the view has applied this event position, e.g. the
    /// `Paytree-Position` of the client's own command.
    #[param(minimum = 0)]
    pub min_position: Option<u64>,
}

/// A customer's read view, built from recorded events by the projection.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MypageView {
    pub customer_id: String,
    /// The customer's payment methods, by id.
    pub payment_methods: Vec<PaymentMethodView>,
    /// Up to 20 orders, newest first (a cancelled order shows `cancelled`).
    pub orders: Vec<super::OrderView>,
    /// Up to 20 messages, newest first, with their delivery state.
    pub recent_messages: Vec<MessageView>,
    /// The last event position the projection had applied when this was read.
    pub position: u64,
}

impl From<&MypageRead> for MypageView {
    fn from(read: &MypageRead) -> Self {
        Self {
            customer_id: read.view.customer_id.to_string(),
            payment_methods: read.view.methods.iter().map(Into::into).collect(),
            orders: read
                .view
                .orders
                .iter()
                .map(|o| super::OrderView::new(&o.order, o.shipment_id.map(|id| id.0)))
                .collect(),
            recent_messages: read.messages.iter().map(Into::into).collect(),
            position: read.position.0,
        }
    }
}

/// One delivery attempt of a message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub number: u32,
    /// `webhook`.
    pub channel: String,
    pub at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl From<&DeliveryAttempt> for AttemptView {
    fn from(a: &DeliveryAttempt) -> Self {
        Self {
            number: a.number,
            channel: a.channel.as_str().to_owned(),
            at: a.at.to_rfc3339(),
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            error: a.error.clone(),
        }
    }
}

/// A message with every recorded delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    pub delivery_attempts: Vec<AttemptView>,
}
