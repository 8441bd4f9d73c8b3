//! What the store writer is asked to write: one struct per kind of change ([`Write`], with
//! the output the store answers for it), gathered as [`Command`]s for the store; what the
//! store assigned ([`Outcome`]) or why it refused ([`Rejected`]).

use super::Advance;
use crate::auth::{AuditEntry, KeyId, KeyRecord};
use crate::domain::catalogue::Product;
use crate::domain::idempotency::IdempotencyClaim;
use crate::domain::intent::{IntentRef, RefundOwed, Verdict};
use crate::domain::message::{DeliveryAttempt, Message};
use crate::domain::mypage::ViewChange;
use crate::domain::order::{OrderChange, SagaStep, StoredOrder};
use crate::domain::shipment::ShipmentChange;
use crate::domain::{
    CustomerId, MaskedAttrs, Order, OrderId, Payment, PaymentId, PaymethodId, Position, Shipment,
    StoredMethod, Timestamp,
};

/// One change the store writer is asked for: a struct per kind of change, each naming what
/// the store answers for it ([`Write::Output`]). The store applies them as [`Command`]s.
pub trait Write: Into<Command> + Send + 'static {
    /// What the store assigned to it, once committed.
    type Output: Send + 'static;
    /// Takes this command's output out of what the store reported; `None` would be a bug of
    /// the store (it did not report what it assigned).
    fn output(outcome: Outcome) -> Option<Self::Output>;
}

/// A verified registration's or change's ids, assigned in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub payment_id: PaymentId,
    pub position: Position,
}

/// Opens the intent named `base` before a payment call, with `nonce` unless it is open
/// already (a retry of the same request), in which case it keeps its own. The outcome
/// names the nonce in effect.
#[derive(Debug, Clone)]
pub struct OpenIntent {
    pub base: String,
    pub nonce: String,
    pub customer_id: CustomerId,
    pub paymethod_id: Option<PaymethodId>,
    /// What the call asks for (0 for a verification).
    pub amount: u64,
    pub order_id: Option<OrderId>,
}

/// A verified registration: the method, its approved verification payment and the
/// `PaymentMethodRegistered` event; closes the intent.
#[derive(Debug, Clone)]
pub struct Register {
    pub method: StoredMethod,
    pub payment: Payment,
    pub intent: IntentRef,
    pub idempotency: Option<IdempotencyClaim>,
}

/// A declined verification: only the payment record; closes the intent.
#[derive(Debug, Clone)]
pub struct RecordDeclined {
    pub payment: Payment,
    pub intent: IntentRef,
    pub idempotency: Option<IdempotencyClaim>,
}

/// A verified change: the new state (its version one higher than `expected_version`),
/// the approved payment and `PaymentMethodChanged` with the previous attributes; closes
/// the intent.
#[derive(Debug, Clone)]
pub struct Change {
    pub method: StoredMethod,
    pub expected_version: u64,
    pub previous: MaskedAttrs,
    pub payment: Payment,
    pub intent: IntentRef,
}

/// The reconciler's verdict on an open intent that nobody closed in time, applied only
/// if it is still the one that was looked at (same nonce, not re-opened since
/// `opened_at`).
#[derive(Debug, Clone)]
pub struct ResolveIntent {
    pub intent: IntentRef,
    pub opened_at: Timestamp,
    pub verdict: Verdict,
}

/// An approval that came back for an intent the reconciler had already given up: its
/// refund is owed.
#[derive(Debug, Clone)]
pub struct OweRefund {
    pub refund: RefundOwed,
}

/// A refund the payment system confirmed: its payment record, and the debt is settled.
#[derive(Debug, Clone)]
pub struct RecordRefund {
    pub authorization: String,
    pub payment: Payment,
}

/// Deletes idempotency records created before `before`, at most `limit` of them.
#[derive(Debug, Clone)]
pub struct Prune {
    pub before: Timestamp,
    pub limit: usize,
}

/// Keeps a named setting across restarts.
#[derive(Debug, Clone)]
pub struct PutMeta {
    pub name: &'static str,
    pub value: Vec<u8>,
}

/// A removal: the row goes, `PaymentMethodRemoved` is recorded.
#[derive(Debug, Clone)]
pub struct Remove {
    pub id: PaymethodId,
    pub expected_version: u64,
}

/// Messages for events (one per event: an event that already has one is skipped) and
/// the notifier's checkpoint, together.
#[derive(Debug, Clone)]
pub struct RecordMessages {
    pub messages: Vec<Message>,
    pub checkpoint: Advance,
}

/// A message's new delivery state and, when it comes from an attempt, that attempt.
#[derive(Debug, Clone)]
pub struct RecordDelivery {
    pub message: Message,
    pub attempt: Option<DeliveryAttempt>,
    /// The admin action that asked for it (a redelivery), recorded in the same commit.
    pub audit: Option<AuditEntry>,
}

/// The rows of the mypage views that events change, and the projector's checkpoint.
#[derive(Debug, Clone)]
pub struct ProjectViews {
    pub changes: Vec<ViewChange>,
    pub checkpoint: Advance,
}

/// Reserves `count` ids of an aggregate kind's sequence (named by the kind), so that an id
/// handed out is never handed out again.
#[derive(Debug, Clone)]
pub struct ReserveIds {
    pub sequence: &'static str,
    pub count: u64,
}

/// A new API key, and the admin action that made it (by no key for the bootstrap key, which
/// paytree makes itself).
#[derive(Debug, Clone)]
pub struct CreateKey {
    pub record: KeyRecord,
    pub audit: Option<AuditEntry>,
}

/// Revokes a key from `at` on, with the admin action; a key already revoked keeps its time
/// and records nothing.
#[derive(Debug, Clone)]
pub struct RevokeKey {
    pub id: KeyId,
    pub at: Timestamp,
    pub audit: AuditEntry,
}

/// When keys (named by hash) were last used.
#[derive(Debug, Clone)]
pub struct TouchKeys {
    pub used: Vec<(String, Timestamp)>,
}

/// An admin action that changes nothing stored (releasing a quarantine), for the audit log.
#[derive(Debug, Clone)]
pub struct RecordAudit {
    pub audit: AuditEntry,
}

/// A product made or changed, and the admin action that did it.
#[derive(Debug, Clone)]
pub struct PutProduct {
    pub product: Product,
    pub audit: AuditEntry,
}

/// A paid order: the order, its approved charge and `OrderPlaced`; closes the intent and
/// keeps the outcome under the request's key.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub order: StoredOrder,
    pub payment: Payment,
    pub intent: IntentRef,
    pub idempotency: Option<IdempotencyClaim>,
}

/// The order's next state, decided on `expected_version`: with the event `change` names (the
/// store makes it from the order as saved), and a refund's payment record (whose id the
/// order then names). Without a change it records only bookkeeping (refund attempts).
#[derive(Debug, Clone)]
pub struct SaveOrder {
    pub order: StoredOrder,
    pub expected_version: u64,
    pub change: Option<OrderChange>,
    pub refund: Option<Payment>,
}

/// One pending shipment for each order that has none yet, and the shipping actor's
/// checkpoint, together.
#[derive(Debug, Clone)]
pub struct CreateShipments {
    pub orders: Vec<Order>,
    pub checkpoint: Advance,
}

/// The shipment of an order cancelled before shipping made it: it is made cancelled (so no
/// shipment for the order can ever ship). Refused if the order has a shipment.
#[derive(Debug, Clone)]
pub struct CancelMissingShipment {
    pub order: Order,
}

/// The shipment's next state, decided on `expected_version`, with its event.
#[derive(Debug, Clone)]
pub struct SaveShipment {
    pub shipment: Shipment,
    pub expected_version: u64,
    pub change: ShipmentChange,
}

/// Saga steps to carry out, and the saga's checkpoint, together.
#[derive(Debug, Clone)]
pub struct PlanSagaSteps {
    pub steps: Vec<(OrderId, SagaStep)>,
    pub checkpoint: Advance,
}

/// A saga step carried out.
#[derive(Debug, Clone)]
pub struct FinishSagaStep {
    pub order: OrderId,
    pub step: SagaStep,
}

/// Shipping paused or resumed (kept across restarts), and the admin action that did it.
#[derive(Debug, Clone)]
pub struct SetShippingPaused {
    pub paused: bool,
    pub audit: AuditEntry,
}

/// Every change, as the store applies it.
#[derive(Debug, Clone)]
pub enum Command {
    OpenIntent(OpenIntent),
    Register(Register),
    RecordDeclined(RecordDeclined),
    Change(Change),
    ResolveIntent(ResolveIntent),
    OweRefund(OweRefund),
    RecordRefund(RecordRefund),
    Prune(Prune),
    PutMeta(PutMeta),
    Remove(Remove),
    RecordMessages(RecordMessages),
    RecordDelivery(RecordDelivery),
    ProjectViews(ProjectViews),
    ReserveIds(ReserveIds),
    CreateKey(CreateKey),
    RevokeKey(RevokeKey),
    TouchKeys(TouchKeys),
    RecordAudit(RecordAudit),
    PutProduct(PutProduct),
    PlaceOrder(PlaceOrder),
    SaveOrder(SaveOrder),
    CreateShipments(CreateShipments),
    CancelMissingShipment(CancelMissingShipment),
    SaveShipment(SaveShipment),
    PlanSagaSteps(PlanSagaSteps),
    FinishSagaStep(FinishSagaStep),
    SetShippingPaused(SetShippingPaused),
}

macro_rules! writes {
    ($($command:ident -> $output:ty = |$o:pat_param| $take:expr;)*) => {$(
        impl From<$command> for Command {
            fn from(c: $command) -> Self {
                Self::$command(c)
            }
        }

        impl Write for $command {
            type Output = $output;
            fn output($o: Outcome) -> Option<$output> {
                $take
            }
        }
    )*};
}

writes! {
    OpenIntent -> String = |o| o.nonce;
    Register -> Stored = |o| o.stored();
    RecordDeclined -> PaymentId = |o| o.payment_id;
    Change -> Stored = |o| o.stored();
    ResolveIntent -> () = |_| Some(());
    OweRefund -> () = |_| Some(());
    RecordRefund -> () = |_| Some(());
    Prune -> usize = |o| Some(o.pruned);
    PutMeta -> () = |_| Some(());
    Remove -> Position = |o| o.position;
    RecordMessages -> () = |_| Some(());
    RecordDelivery -> () = |_| Some(());
    ProjectViews -> () = |_| Some(());
    ReserveIds -> u64 = |o| o.first_id;
    CreateKey -> () = |_| Some(());
    RevokeKey -> () = |_| Some(());
    TouchKeys -> () = |_| Some(());
    RecordAudit -> () = |_| Some(());
    PutProduct -> bool = |o| Some(o.created);
    PlaceOrder -> Stored = |o| o.stored();
    SaveOrder -> OrderSaved = |o| Some(OrderSaved { position: o.position, refund_payment_id: o.payment_id });
    CreateShipments -> () = |_| Some(());
    CancelMissingShipment -> Position = |o| o.position;
    SaveShipment -> Position = |o| o.position;
    PlanSagaSteps -> () = |_| Some(());
    FinishSagaStep -> () = |_| Some(());
    SetShippingPaused -> () = |_| Some(());
}

/// What saving an order assigned: its event's position (when it recorded one) and the
/// refund's payment id (when it recorded one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSaved {
    pub position: Option<Position>,
    pub refund_payment_id: Option<PaymentId>,
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
    /// For `PutProduct`: whether the product is new.
    pub created: bool,
}

impl Outcome {
    fn stored(self) -> Option<Stored> {
        Some(Stored {
            payment_id: self.payment_id?,
            position: self.position?,
        })
    }
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
