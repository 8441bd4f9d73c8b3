//! Verification: a zero-amount authorization of a new number, through the payment line under
//! a durable intent (named by a stable base under an `Idempotency-Key`, a random one
//! otherwise).

use super::{Paymethod, PaymethodError, PaymethodResult, PaymethodServices};
use crate::actors::idempotency::Claim;
use crate::actors::payment::call::{CallFailed, IntentCall};
use crate::domain::idempotency::IdempotencyClaim;
use crate::domain::intent::IntentRef;
use crate::domain::{AccountNumber, CustomerId, Payment, PaymentStatus, PaymethodId};
use crate::provider::Source;
use crate::store;
use std::time::Duration;

/// An approved verification, ready to be stored with the command it verified.
pub(super) struct Verified {
    pub(super) payment: Payment,
    pub(super) token: String,
    pub(super) intent: IntentRef,
}

/// A verification to ask the payment system for.
pub(super) struct Verification<'a> {
    pub(super) customer: &'a CustomerId,
    pub(super) number: &'a AccountNumber,
    pub(super) request_id: Option<u64>,
    /// The method being changed; `None` for a registration.
    pub(super) paymethod: Option<PaymethodId>,
    /// The stable part of the intent's reference.
    pub(super) intent_base: String,
    pub(super) idempotency: Option<IdempotencyClaim>,
}

impl Paymethod {
    /// Asks the payment system to verify a number (see [`crate::actors::payment::call`]). A
    /// decline is stored (the payment record is kept) and reported as `Declined` (its write
    /// holds `held`, the request's idempotency claim, until its fate is known); no answer is
    /// `PaymentUnavailable`.
    pub(super) async fn verify(
        &mut self,
        v: Verification<'_>,
        held: &mut Option<Claim>,
        svc: &PaymethodServices,
    ) -> PaymethodResult<Verified> {
        let call = IntentCall {
            customer: v.customer.clone(),
            paymethod: v.paymethod,
            order: None,
            intent_base: v.intent_base,
            source: Source::Number(v.number.clone()),
            amount: 0,
        };
        let (auth, intent) = match svc.payment.authorize(&svc.writer, call).await {
            Ok(answered) => answered,
            Err(CallFailed::Unavailable(retry_after)) => {
                return Err(PaymethodError::PaymentUnavailable { retry_after }.into());
            }
            Err(CallFailed::Write(e)) => return Err(self.unwritten(e)),
        };
        let mut payment =
            Payment::verification(v.customer.clone(), v.paymethod, v.request_id, auth.id);
        payment.decline_code = auth.decline_code.clone();
        match (auth.approved, auth.token) {
            (true, Some(token)) => Ok(Verified {
                payment,
                token,
                intent,
            }),
            (true, None) => {
                tracing::error!("payment system approved a number without a token");
                Err(PaymethodError::PaymentUnavailable {
                    retry_after: Duration::from_secs(1),
                }
                .into())
            }
            (false, _) => {
                payment.status = PaymentStatus::Declined;
                let declined = store::RecordDeclined {
                    payment,
                    intent,
                    idempotency: v.idempotency,
                };
                let payment_id = self.write(declined, held.take(), None, svc).await?;
                Err(PaymethodError::Declined {
                    payment_id,
                    code: auth.decline_code,
                }
                .into())
            }
        }
    }
}
