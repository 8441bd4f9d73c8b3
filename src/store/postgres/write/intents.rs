//! The intent, refund and pruning side of a batch. An intent's row exists only while it is
//! open; a verdict or a re-opening reads it locked (`FOR UPDATE`), so no other replica can
//! close or re-open it before this batch commits.

use super::{Applied, Batch, Params, drawn_payment};
use crate::domain::intent::{Intent, RefundOwed, Verdict};
use crate::domain::{Payment, Timestamp};
use crate::store::command::{OpenIntent, Outcome, Rejected, ResolveIntent};
use crate::store::postgres::PgError;
use crate::store::postgres::record::{at_most, decode, encode, int, uint};
use crate::store::tables::index_ms;

const LOCK_INTENT: &str = "SELECT record FROM intents WHERE base = $1 FOR UPDATE";
const OPEN_NEW: &str = "INSERT INTO intents (base, nonce, opened_ms, record)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const PUT_INTENT: &str = "UPDATE intents SET nonce = $2, opened_ms = $3, record = $4
     WHERE base = $1";
const DROP_INTENT: &str = "DELETE FROM intents WHERE base = $1";
const OWE_REFUND: &str =
    "INSERT INTO refunds_owed (auth, record) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const SETTLE_REFUND: &str = "DELETE FROM refunds_owed WHERE auth = $1";
const DRAW_PAYMENT: &str = "SELECT nextval('payment_ids')";
/// Deletes up to `$2` idempotency records created before `$1` (ms), oldest first; how many.
const PRUNE: &str = "WITH doomed AS (
         SELECT customer, idem_key FROM idempotency WHERE created_ms < $1
         ORDER BY created_ms, customer, idem_key LIMIT $2),
     gone AS (
         DELETE FROM idempotency i USING doomed d
         WHERE i.customer = d.customer AND i.idem_key = d.idem_key RETURNING 1)
     SELECT count(*) FROM gone";

pub(super) const STATEMENTS: &[&str] = &[
    LOCK_INTENT,
    OPEN_NEW,
    PUT_INTENT,
    DROP_INTENT,
    OWE_REFUND,
    SETTLE_REFUND,
    DRAW_PAYMENT,
    PRUNE,
];

impl Batch<'_, '_> {
    /// Opens the intent `base`: an open one (a retry of the same request) is re-opened with
    /// its nonce, keeping its reference; otherwise it opens with `nonce`. If another replica
    /// opened it between this batch's look and its insert, the batch is tried again (and
    /// then re-opens that one).
    pub(super) async fn open_intent(&self, open: &OpenIntent) -> Result<Outcome, PgError> {
        let current = self.query_opt(LOCK_INTENT, &[&open.base]).await?;
        let nonce = match &current {
            Some(row) => decode::<Intent>(row.get(0))?.nonce,
            None => open.nonce.clone(),
        };
        let intent = Intent {
            base: open.base.clone(),
            nonce: nonce.clone(),
            customer_id: open.customer_id.clone(),
            paymethod_id: open.paymethod_id,
            amount: open.amount,
            order_id: open.order_id,
            opened_at: Timestamp::now(),
            checks: 0,
        };
        let sql = if current.is_some() {
            PUT_INTENT
        } else {
            OPEN_NEW
        };
        if !self.put_intent(sql, &intent).await? {
            return Err(PgError::Contended("a payment intent being opened"));
        }
        Ok(Outcome {
            nonce: Some(nonce),
            ..Outcome::default()
        })
    }

    /// Writes `intent` with `sql` ([`OPEN_NEW`] or [`PUT_INTENT`]); whether it was written.
    async fn put_intent(&self, sql: &str, intent: &Intent) -> Result<bool, PgError> {
        let params: Params = &[
            &intent.base,
            &intent.nonce,
            &int(index_ms(intent.opened_at))?,
            &encode(intent)?,
        ];
        Ok(self.execute(sql, params).await? == 1)
    }

    /// Applies the reconciler's verdict, if the intent is still the one it looked at (same
    /// nonce, not re-opened since `opened_at`).
    pub(super) async fn resolve_intent(&self, resolve: &ResolveIntent) -> Applied {
        let ResolveIntent {
            intent,
            opened_at,
            verdict,
        } = resolve;
        let Some(row) = self.query_opt(LOCK_INTENT, &[&intent.base]).await? else {
            return Ok(Err(Rejected::IntentClosed));
        };
        let open: Intent = decode(row.get(0))?;
        if open.nonce != intent.nonce || open.opened_at != *opened_at {
            return Ok(Err(Rejected::IntentClosed));
        }
        match verdict {
            Verdict::Close => {
                self.execute(DROP_INTENT, &[&open.base]).await?;
            }
            Verdict::Recheck => {
                let again = Intent {
                    opened_at: Timestamp::now(),
                    checks: open.checks.saturating_add(1),
                    ..open
                };
                self.put_intent(PUT_INTENT, &again).await?;
            }
            Verdict::Abandon(refund) => {
                let base: Params = &[&open.base];
                tokio::try_join!(self.execute(DROP_INTENT, base), self.owe_refund(refund))?;
            }
        }
        Ok(Ok(Outcome::default()))
    }

    /// Records a refund to make (once per authorization).
    pub(super) async fn owe_refund(&self, refund: &RefundOwed) -> Result<(), PgError> {
        let record = encode(refund)?;
        self.execute(OWE_REFUND, &[&refund.authorization, &record])
            .await?;
        Ok(())
    }

    /// A refund the payment system confirmed: its payment record, and the debt is settled.
    pub(super) async fn record_refund(
        &self,
        authorization: &str,
        payment: &Payment,
    ) -> Result<Outcome, PgError> {
        let row = self.query_one(DRAW_PAYMENT, &[]).await?;
        let payment = Payment {
            id: drawn_payment(&row, 0)?,
            ..payment.clone()
        };
        let settled: Params = &[&authorization];
        tokio::try_join!(
            self.insert_payment(&payment),
            self.execute(SETTLE_REFUND, settled),
        )?;
        Ok(Outcome {
            payment_id: Some(payment.id),
            ..Outcome::default()
        })
    }

    /// Deletes up to `limit` idempotency records created before `before`.
    pub(super) async fn prune(&self, before: Timestamp, limit: usize) -> Result<Outcome, PgError> {
        let cutoff = int(index_ms(before))?;
        let row = self.query_one(PRUNE, &[&cutoff, &at_most(limit)]).await?;
        let pruned = uint(row.get(0))?;
        Ok(Outcome {
            pruned: usize::try_from(pruned).unwrap_or(usize::MAX),
            ..Outcome::default()
        })
    }
}
