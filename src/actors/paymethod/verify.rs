//! Verification: leave to call, the durable payment intent, the call itself, and the
//! intent's name (a stable base under an `Idempotency-Key`, a random one otherwise).

use super::{Paymethod, PaymethodError, PaymethodResult, PaymethodServices};
use crate::actors::ask;
use crate::actors::idempotency::Claim;
use crate::actors::payment::{PaymentMessage, Unavailable};
use crate::domain::idempotency::IdempotencyClaim;
use crate::domain::intent::IntentRef;
use crate::domain::payment::VERIFICATION_CURRENCY;
use crate::domain::{AccountNumber, CustomerId, Payment, PaymentStatus, PaymethodId};
use crate::provider::{AuthorizeRequest, Source};
use crate::store;
use rand::Rng;
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

/// A fresh, random intent base, for a request that cannot be retried as the same request.
pub(super) fn random_base(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(rand::rng().random::<[u8; 12]>()))
}

/// A random nonce for a new attempt under an intent base.
fn fresh_nonce() -> String {
    hex::encode(rand::rng().random::<[u8; 8]>())
}

/// The intent base of a registration under an `Idempotency-Key`: the same for every retry of
/// the same request, so a retry reuses the intent and its authorization.
pub(super) fn keyed_base(customer: &CustomerId, claim: &IdempotencyClaim) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [customer.as_str(), claim.key.as_str(), &claim.fingerprint] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("reg_{}", hex::encode(&hash.finalize()[..16]))
}

impl Paymethod {
    /// Asks the payment system to verify a number. Leave to call is asked first (an open
    /// breaker answers at once, with nothing recorded), then the intent is made durable, then
    /// the payment system is called under the intent's reference. Without an answer the
    /// intent stays open for the reconciler. A decline is stored (the payment record is kept)
    /// and reported as `Declined` (its write holds `held`, the request's idempotency claim,
    /// until its fate is known); no answer is `PaymentUnavailable`.
    pub(super) async fn verify(
        &mut self,
        v: Verification<'_>,
        held: &mut Option<Claim>,
        svc: &PaymethodServices,
    ) -> PaymethodResult<Verified> {
        let unavailable = |u: Unavailable| {
            PaymethodError::PaymentUnavailable {
                retry_after: u.retry_after(),
            }
            .into()
        };
        // The payment actor did not answer in time (it is restarting, or its mailbox is
        // behind): try again shortly, as for any other missing answer.
        let no_answer = || unavailable(Unavailable::NoAnswer);
        let payment = svc.payment.get()?;
        let admission = match ask(&payment, PaymentMessage::Admit, svc.payment_wait).await {
            Ok(Ok(admission)) => admission,
            Ok(Err(u)) => return Err(unavailable(u)),
            Err(_) => return Err(no_answer()),
        };
        let open = store::OpenIntent {
            base: v.intent_base.clone(),
            nonce: fresh_nonce(),
            customer_id: v.customer.clone(),
            paymethod_id: v.paymethod,
        };
        let nonce = self.write(open, None, None, svc).await?;
        let intent = IntentRef {
            base: v.intent_base,
            nonce,
        };
        let reference = intent.reference();
        let request = AuthorizeRequest {
            idempotency_key: reference.clone(),
            reference,
            source: Source::Number(v.number.clone()),
            amount: 0,
            currency: VERIFICATION_CURRENCY.to_owned(),
        };
        let build = |reply| PaymentMessage::Authorize(admission, request, reply);
        let auth = match ask(&payment, build, svc.payment_wait).await {
            Ok(Ok(auth)) => auth,
            Ok(Err(u)) => return Err(unavailable(u)),
            Err(_) => return Err(no_answer()),
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
