//! What the store writer is asked to write: one [`Command`] per change, what the store
//! assigned to it ([`Outcome`]) or why it refused it ([`Rejected`]).

use crate::domain::idempotency::IdempotencyClaim;
use crate::domain::intent::{IntentRef, RefundOwed, Verdict};
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::ViewChange;
use crate::domain::{
    CustomerId, MaskedAttrs, Payment, PaymentId, PaymethodId, Position, StoredMethod, Timestamp,
};

/// Everything one command changes. The store fills in the ids it assigns
/// (payment id, event position) and reports them in [`Outcome`].
#[derive(Debug, Clone)]
pub enum Command {
    /// Opens the intent named `base` before a payment call, with `nonce` unless it is open
    /// already (a retry of the same request), in which case it keeps its own. The outcome
    /// names the nonce in effect.
    OpenIntent {
        base: String,
        nonce: String,
        customer_id: CustomerId,
        paymethod_id: Option<PaymethodId>,
    },
    /// A verified registration: the method, its approved verification payment and the
    /// `PaymentMethodRegistered` event; closes the intent.
    Register {
        method: StoredMethod,
        payment: Payment,
        intent: IntentRef,
        idempotency: Option<IdempotencyClaim>,
    },
    /// A declined verification: only the payment record; closes the intent.
    RecordDeclined {
        payment: Payment,
        intent: IntentRef,
        idempotency: Option<IdempotencyClaim>,
    },
    /// A verified change: the new state (its version one higher than `expected_version`),
    /// the approved payment and `PaymentMethodChanged` with the previous attributes; closes
    /// the intent.
    Change {
        method: StoredMethod,
        expected_version: u64,
        previous: MaskedAttrs,
        payment: Payment,
        intent: IntentRef,
    },
    /// The reconciler's verdict on an open intent that nobody closed in time, applied only
    /// if it is still the one that was looked at (same nonce, not re-opened since
    /// `opened_at`).
    ResolveIntent {
        intent: IntentRef,
        opened_at: Timestamp,
        verdict: Verdict,
    },
    /// An approval that came back for an intent the reconciler had already given up: its
    /// refund is owed.
    OweRefund { refund: RefundOwed },
    /// A refund the payment system confirmed: its payment record, and the debt is settled.
    RecordRefund {
        authorization: String,
        payment: Payment,
    },
    /// Deletes idempotency records created before `before`, at most `limit` of them.
    Prune { before: Timestamp, limit: usize },
    /// Keeps a named setting across restarts.
    PutMeta { name: &'static str, value: Vec<u8> },
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
    /// Reserves `count` ids of an aggregate kind's sequence (named by the kind), so that an id
    /// handed out is never handed out again.
    ReserveIds { sequence: &'static str, count: u64 },
}

/// What the store assigned to a committed command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub position: Option<Position>,
    pub payment_id: Option<PaymentId>,
    /// For `ReserveIds`: the first reserved id.
    pub first_id: Option<u64>,
    /// For `OpenIntent`: the nonce to call the payment system with.
    pub nonce: Option<String>,
    /// For `Prune`: how many records went.
    pub pruned: usize,
}

/// A command the store refused without writing anything of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The stored version is not the one the command was decided on (or the row is gone).
    #[error("the stored version of the aggregate changed")]
    VersionConflict,
    /// The intent the command closes is no longer open (the reconciler gave up on it).
    #[error("the payment intent is no longer open")]
    IntentClosed,
    /// The command's `Idempotency-Key` already has a stored outcome (an earlier attempt of
    /// the same request committed).
    #[error("the idempotency key already has an outcome")]
    KeyRecorded,
}
