//! A payment call the way every aggregate that pays makes one. Leave to call is asked first
//! (an open breaker or a full bulkhead answers at once, with nothing recorded), then the
//! intent is made durable under the reference the call will use, then the payment system is
//! called. Without an answer the intent stays open for the reconciler, which refunds an
//! approval that nobody claimed. Refunds need no intent: they are idempotent by their key.

use super::{CallKind, PaymentMessage, RefundRequest, Unavailable};
use crate::actors::ask;
use crate::actors::idempotency::Claim;
use crate::actors::kernel::{Slot, WriteError, Writer};
use crate::domain::intent::{IntentRef, RefundOwed};
use crate::domain::{CustomerId, OrderId, PaymethodId};
use crate::provider::{Authorization, AuthorizeRequest, Source};
use crate::store;
use rand::Rng;
use std::time::Duration;

/// The currency of every payment call.
pub const CURRENCY: &str = "KRW";

/// One authorization to ask for under an intent.
pub struct IntentCall {
    pub customer: CustomerId,
    /// The method verified (a change) or charged.
    pub paymethod: Option<PaymethodId>,
    /// The order charged.
    pub order: Option<OrderId>,
    /// The stable part of the intent's reference (the same for every retry of one request).
    pub intent_base: String,
    pub source: Source,
    /// 0 for a verification.
    pub amount: u64,
}

/// Why a call under an intent has no answer.
#[derive(Debug)]
pub enum CallFailed {
    /// No leave to call, or no answer: try again after the wait.
    Unavailable(Duration),
    /// The intent could not be recorded (nothing was called).
    Write(WriteError),
}

impl From<Unavailable> for CallFailed {
    fn from(u: Unavailable) -> Self {
        Self::Unavailable(u.retry_after())
    }
}

/// The payment actor, and how long to wait for its answers.
#[derive(Debug, Clone)]
pub struct PaymentLine {
    pub actor: Slot<PaymentMessage>,
    /// The payment actor's own timeout plus a margin.
    pub wait: Duration,
}

impl PaymentLine {
    /// Asks leave, records the intent, calls; the answer (approved or declined) and the
    /// intent it was made under.
    pub async fn authorize(
        &self,
        writer: &Writer,
        call: IntentCall,
    ) -> Result<(Authorization, IntentRef), CallFailed> {
        let no_answer = || CallFailed::from(Unavailable::NoAnswer);
        let payment = self.actor.get().map_err(|_| no_answer())?;
        let kind = CallKind::of_amount(call.amount);
        let admit = |reply| PaymentMessage::Admit(kind, reply);
        let admission = match ask(&payment, admit, self.wait).await {
            Ok(admitted) => admitted?,
            Err(_) => return Err(no_answer()),
        };
        let open = store::OpenIntent {
            base: call.intent_base.clone(),
            nonce: fresh_nonce(),
            customer_id: call.customer.clone(),
            paymethod_id: call.paymethod,
            amount: call.amount,
            order_id: call.order,
        };
        let nonce = writer.write(open).await.map_err(CallFailed::Write)?;
        let intent = IntentRef {
            base: call.intent_base,
            nonce,
        };
        let reference = intent.reference();
        let request = AuthorizeRequest {
            idempotency_key: reference.clone(),
            reference,
            source: call.source,
            amount: call.amount,
            currency: CURRENCY.to_owned(),
        };
        let build = |reply| PaymentMessage::Authorize(admission, request, reply);
        match ask(&payment, build, self.wait).await {
            Ok(answer) => Ok((answer?, intent)),
            Err(_) => Err(no_answer()),
        }
    }

    /// Refunds under `request`'s key; the refund's id.
    pub async fn refund(&self, request: RefundRequest) -> Result<String, Unavailable> {
        let payment = self.actor.get().map_err(|_| Unavailable::NoAnswer)?;
        let admit = |reply| PaymentMessage::Admit(CallKind::Refund, reply);
        let admission = match ask(&payment, admit, self.wait).await {
            Ok(admitted) => admitted?,
            Err(_) => return Err(Unavailable::NoAnswer),
        };
        let build = |reply| PaymentMessage::Refund(admission, request, reply);
        ask(&payment, build, self.wait)
            .await
            .unwrap_or(Err(Unavailable::NoAnswer))
    }
}

/// A random, fresh intent base, for a request that cannot be retried as the same request.
pub fn random_base(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(rand::rng().random::<[u8; 12]>()))
}

/// The intent base of a request under an `Idempotency-Key`: the same for every retry of the
/// same request (customer, key and the request's fingerprint), so a retry reuses the intent
/// and its authorization.
pub fn keyed_base(prefix: &str, customer: &CustomerId, key: &str, fingerprint: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [customer.as_str(), key, fingerprint] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("{prefix}_{}", hex::encode(&hash.finalize()[..16]))
}

/// A random nonce for a new attempt under an intent base.
fn fresh_nonce() -> String {
    hex::encode(rand::rng().random::<[u8; 8]>())
}

/// Why a write that claims a payment was not stored.
#[derive(Debug)]
pub enum PaidWriteError {
    /// Not stored, or not known to be (see [`WriteError::leaves_unsure`]).
    Unwritten(WriteError),
    /// The aggregate's stored version is not the one the command was decided on.
    VersionConflict,
    /// An earlier attempt of the same request was stored; the approval in hand is owed back.
    KeyRecorded,
    /// The reconciler gave up on the payment call before its answer came; the approval in
    /// hand is owed back.
    IntentClosed,
}

/// Writes a command that claims a payment and waits until it is durable. `held` (an
/// idempotency claim) is kept until the write's fate is known; `owed` is the approval the
/// write claims, recorded as owed back should the store refuse the claim.
pub async fn paid_write<C: store::Write>(
    writer: &Writer,
    command: C,
    held: Option<Claim>,
    owed: Option<RefundOwed>,
) -> Result<C::Output, PaidWriteError> {
    let written = match held {
        Some(held) => writer.write_holding(command, held).await,
        None => writer.write(command).await,
    };
    let refused = match written {
        Ok(output) => return Ok(output),
        Err(WriteError::Rejected(refused)) => refused,
        Err(e) => return Err(PaidWriteError::Unwritten(e)),
    };
    if refused == store::Rejected::VersionConflict {
        return Err(PaidWriteError::VersionConflict);
    }
    tracing::warn!(reason = %refused, "a paid command was refused; its approval is owed back");
    if let Some(owed) = owed {
        owe_back(writer, owed).await;
    }
    Err(match refused {
        store::Rejected::KeyRecorded => PaidWriteError::KeyRecorded,
        _ => PaidWriteError::IntentClosed,
    })
}

/// Records that `owed` (an approval the store refused to claim: its intent was given up, or
/// an earlier attempt of the request was stored) must be refunded; the reconciler pays it.
async fn owe_back(writer: &Writer, owed: RefundOwed) {
    let authorization = owed.authorization.clone();
    if writer
        .write(store::OweRefund { refund: owed })
        .await
        .is_err()
    {
        tracing::error!(%authorization, "an unclaimed approval's refund could not be recorded");
    }
}
