//! Pure types and rules: ids, customers, card and bank numbers, one folder per aggregate kind
//! (`paymethod/`, `order/`, `shipment`: state, rules and events), payments and the event log's envelope.
//! Nothing here does I/O; everything past the HTTP edge is already valid.

pub mod catalogue;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod intent;
pub mod message;
pub mod mypage;
pub mod number;
pub mod order;
pub mod payment;
pub mod paymethod;
pub mod shipment;
pub mod time;

pub use events::{Event, Payload};
pub use ids::{CustomerId, IdempotencyKey, MessageId, PaymentId, PaymethodId, Position};
pub use number::{AccountNumber, Brand, Kind};
pub use order::{Order, OrderEvent, OrderId};
pub use payment::{Payment, PaymentPurpose, PaymentStatus};
pub use paymethod::{MaskedAttrs, PaymentMethod, PaymethodEvent, StoredMethod};
pub use shipment::{Shipment, ShipmentEvent, ShipmentId};
pub use time::Timestamp;

/// One field that failed validation, as it is reported in a 422 problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field as the request names it: `number`, or `items[2].sku` inside a list.
    pub field: std::borrow::Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
