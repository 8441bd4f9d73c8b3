//! Pure types and rules: ids, customers, card and bank numbers, one folder per aggregate kind
//! (`paymethod/`: its state, rules and events), payments and the event log's envelope.
//! Nothing here does I/O; everything past the HTTP edge is already valid.

pub mod catalogue;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod intent;
pub mod message;
pub mod mypage;
pub mod number;
pub mod payment;
pub mod paymethod;
pub mod time;

pub use events::{Event, Payload};
pub use ids::{CustomerId, IdempotencyKey, MessageId, PaymentId, PaymethodId, Position};
pub use number::{AccountNumber, Brand, Kind};
pub use payment::{Payment, PaymentPurpose, PaymentStatus};
pub use paymethod::{MaskedAttrs, PaymentMethod, PaymethodEvent, StoredMethod};
pub use time::Timestamp;

/// One field that failed validation, as it is reported in a 422 problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
