//! What the store writer is asked to write: one [`Command`] per change, what the store
//! assigned to it ([`Outcome`]) or why it refused it ([`Rejected`]).

use crate::domain::idempotency::IdempotencyClaim;
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::ViewChange;
use crate::domain::{MaskedAttrs, Payment, PaymentId, PaymentMethod, PaymethodId, Position};

/// Everything one command changes. The store fills in the ids it assigns
/// (payment id, event position) and reports them in [`Outcome`].
#[derive(Debug, Clone)]
pub enum Command {
    /// A verified registration: the method, its approved verification payment and the
    /// `PaymentMethodRegistered` event.
    Register {
        method: PaymentMethod,
        payment: Payment,
        idempotency: Option<IdempotencyClaim>,
    },
    /// A declined verification: only the payment record.
    RecordDeclined {
        payment: Payment,
        idempotency: Option<IdempotencyClaim>,
    },
    /// A verified change: the new state (its version one higher than `expected_version`),
    /// the approved payment and `PaymentMethodChanged` with the previous attributes.
    Change {
        method: PaymentMethod,
        expected_version: u64,
        previous: MaskedAttrs,
        payment: Payment,
    },
    /// A removal: the row goes, `PaymentMethodRemoved` is recorded.
    Remove {
        id: PaymethodId,
        expected_version: u64,
    },
    /// Messages for events (one per event: an event that already has one is skipped) and
    /// the notifier's checkpoint, together.
    RecordMessages {
        messages: Vec<Message>,
        checkpoint: Position,
    },
    /// A message's new delivery state and, when it comes from an attempt, that attempt.
    RecordDelivery {
        message: Message,
        attempt: Option<DeliveryAttempt>,
    },
    /// The rows of the mypage views that events change, and the projector's checkpoint.
    ProjectViews {
        changes: Vec<ViewChange>,
        checkpoint: Position,
    },
    /// Reserves `count` payment-method ids, so that an id handed out is never handed out again.
    ReserveIds { count: u64 },
}

/// What the store assigned to a committed command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub position: Option<Position>,
    pub payment_id: Option<PaymentId>,
    /// For `ReserveIds`: the first reserved id.
    pub first_id: Option<u64>,
}

/// A command the store refused without writing anything of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The stored version is not the one the command was decided on (or the row is gone).
    #[error("the stored version of the aggregate changed")]
    VersionConflict,
}
