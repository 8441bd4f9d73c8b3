//! The simulated payment system: approves every valid number except those ending in `0002`,
//! and every charge (a token with an amount) except on numbers ending in `0341`; tokenizes
//! approved numbers, keeps a ledger, and injects faults on demand. Its books live in memory,
//! but a token carries all the simulator needs to know about its number (whether its charges
//! are declined), so tokens stay valid when it restarts — as a real payment system's do,
//! which paytree's stored methods rely on (the embedded one restarts with paytree).
//! One instance runs embedded in `paytree serve` or alone behind `paytree provider`.

use super::wire::{
    AuthStatus, AuthorizationBody, AuthorizationReply, Ledger, LedgerEntry, RefundReply,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Faults to inject: a share of calls that fail with 503, a share of approvals whose answer
/// is lost (the authorization is made, then the caller hears nothing until it times out), a
/// delay before every answer, every call failing at once (`down`), or the refunds of some
/// authorizations refused (422) whenever they are asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub fail_rate: f64,
    #[serde(default)]
    pub drop_rate: f64,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub down: bool,
    /// Authorization ids whose refund is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refuse_refunds: Vec<String>,
}

impl Faults {
    /// Rates are shares of calls, between 0 and 1.
    pub fn is_valid(&self) -> bool {
        (0.0..=1.0).contains(&self.fail_rate) && (0.0..=1.0).contains(&self.drop_rate)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("payment system is down")]
    Down,
    #[error("injected failure")]
    Fault,
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    #[error("no such authorization")]
    NotFound,
    #[error("refund refused")]
    RefundRefused,
    #[error("the authorization was refunded already")]
    AlreadyRefunded,
}

/// How long a dropped answer keeps the caller waiting: longer than any sensible timeout.
const DROPPED_ANSWER_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Record {
    reply: AuthorizationReply,
    amount: u64,
    refund: Option<RefundReply>,
}

#[derive(Debug, Default)]
struct Books {
    records: Vec<Record>,
    by_key: HashMap<String, usize>,
    by_reference: HashMap<String, usize>,
    /// Refund idempotency key → the refund made under it.
    refunds_by_key: HashMap<String, RefundReply>,
}

/// The simulated payment system.
#[derive(Debug, Default)]
pub struct Simulator {
    books: Mutex<Books>,
    faults: Mutex<Faults>,
    /// Authorization calls received, whatever their answer (a down system counts them too).
    calls: AtomicU64,
    /// Lookups (`GET /v1/authorizations?reference=`) and refund calls received.
    lookups: AtomicU64,
    refunds: AtomicU64,
}

impl Simulator {
    pub fn new(faults: Faults) -> Self {
        Self {
            books: Mutex::default(),
            faults: Mutex::new(faults),
            calls: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            refunds: AtomicU64::new(0),
        }
    }

    /// How many authorization calls reached it, including those it failed: what an audit
    /// compares with the breaker's open periods.
    pub fn authorization_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// How many lookups and refund calls reached it.
    pub fn lookup_and_refund_calls(&self) -> (u64, u64) {
        (
            self.lookups.load(Ordering::Relaxed),
            self.refunds.load(Ordering::Relaxed),
        )
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().unwrap().clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// Authorizes `body`. The same idempotency key returns the same authorization. Under a
    /// `dropRate` fault the authorization is made and then its answer is lost.
    pub async fn authorize(
        &self,
        idempotency_key: Option<&str>,
        body: AuthorizationBody,
    ) -> Result<AuthorizationReply, SimError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let reply = self.authorize_now(idempotency_key, body).await?;
        let drop_rate = self.faults().drop_rate.clamp(0.0, 1.0);
        if drop_rate > 0.0 && rand::rng().random_bool(drop_rate) {
            tokio::time::sleep(DROPPED_ANSWER_WAIT).await;
            return Err(SimError::Fault);
        }
        Ok(reply)
    }

    /// The faults of the moment, applied to one call: down, the delay, a random failure.
    async fn suffer_faults(&self) -> Result<Faults, SimError> {
        let faults = self.faults();
        if faults.down {
            return Err(SimError::Down);
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
        if faults.fail_rate > 0.0 && rand::rng().random_bool(faults.fail_rate.clamp(0.0, 1.0)) {
            return Err(SimError::Fault);
        }
        Ok(faults)
    }

    async fn authorize_now(
        &self,
        idempotency_key: Option<&str>,
        body: AuthorizationBody,
    ) -> Result<AuthorizationReply, SimError> {
        self.suffer_faults().await?;
        let mut books = self.books.lock().unwrap();
        if let Some(&i) = idempotency_key.and_then(|k| books.by_key.get(k)) {
            return Ok(books.records[i].reply.clone());
        }
        let (status, token) = match (&body.number, &body.token) {
            (Some(number), None) => {
                if number.len() < 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SimError::Invalid("number must be 6 or more digits"));
                }
                if number.ends_with("0002") {
                    (AuthStatus::Declined, None)
                } else {
                    (AuthStatus::Approved, Some(token_for(number)))
                }
            }
            // A charge on a number ending in 0341 is declined, though the number was
            // approved for verification (the test card of a customer who cannot pay).
            (None, Some(token)) => match Token::read(token) {
                Some(Token { charges_declined }) if body.amount > 0 && charges_declined => {
                    (AuthStatus::Declined, None)
                }
                Some(_) => (AuthStatus::Approved, Some(token.clone())),
                None => return Err(SimError::Invalid("unknown token")),
            },
            _ => return Err(SimError::Invalid("give exactly one of number and token")),
        };
        let reply = AuthorizationReply {
            id: format!("auth_{}", random_hex()),
            status,
            decline_code: (status == AuthStatus::Declined).then(|| "card_declined".to_owned()),
            token,
            reference: body.reference.clone(),
        };
        let i = books.records.len();
        books.records.push(Record {
            reply: reply.clone(),
            amount: body.amount,
            refund: None,
        });
        if let Some(key) = idempotency_key {
            books.by_key.insert(key.to_owned(), i);
        }
        books.by_reference.insert(body.reference, i);
        Ok(reply)
    }

    /// The latest authorization made for `reference`.
    pub fn find(&self, reference: &str) -> Option<AuthorizationReply> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let books = self.books.lock().unwrap();
        books
            .by_reference
            .get(reference)
            .map(|&i| books.records[i].reply.clone())
    }

    /// Refunds an approved authorization in full or in part. The same idempotency key
    /// returns the same refund (so a caller that lost the answer can simply ask again); a
    /// second refund of an authorization under another key is refused, as is more than it
    /// charged. Faults apply as to authorizations.
    pub async fn refund(
        &self,
        idempotency_key: Option<&str>,
        authorization: &str,
        amount: u64,
    ) -> Result<RefundReply, SimError> {
        self.refunds.fetch_add(1, Ordering::Relaxed);
        let faults = self.suffer_faults().await?;
        if faults.refuse_refunds.iter().any(|a| a == authorization) {
            return Err(SimError::RefundRefused);
        }
        let mut books = self.books.lock().unwrap();
        let books = &mut *books;
        if let Some(refund) = idempotency_key.and_then(|k| books.refunds_by_key.get(k)) {
            return Ok(refund.clone());
        }
        let record = books
            .records
            .iter_mut()
            .find(|r| r.reply.id == authorization)
            .ok_or(SimError::NotFound)?;
        if record.reply.status != AuthStatus::Approved {
            return Err(SimError::Invalid(
                "only an approved authorization can be refunded",
            ));
        }
        if amount > record.amount {
            return Err(SimError::Invalid("a refund cannot exceed what was charged"));
        }
        let refund = match (&record.refund, idempotency_key) {
            // Without a key, asking again is the same refund (the reconciler's way before keys).
            (Some(refund), None) => refund.clone(),
            (Some(_), Some(_)) => return Err(SimError::AlreadyRefunded),
            (None, _) => {
                let refund = RefundReply {
                    id: format!("ref_{}", random_hex()),
                    authorization: authorization.to_owned(),
                    amount,
                };
                record.refund = Some(refund.clone());
                refund
            }
        };
        if let Some(key) = idempotency_key {
            books.refunds_by_key.insert(key.to_owned(), refund.clone());
        }
        Ok(refund)
    }

    pub fn ledger(&self) -> Ledger {
        let books = self.books.lock().unwrap();
        Ledger {
            authorizations: books
                .records
                .iter()
                .map(|r| LedgerEntry {
                    id: r.reply.id.clone(),
                    reference: r.reply.reference.clone(),
                    status: r.reply.status,
                    amount: r.amount,
                    refunded: r.refund.is_some(),
                    refunded_amount: r.refund.as_ref().map_or(0, |f| f.amount),
                })
                .collect(),
            refunds: books
                .records
                .iter()
                .filter_map(|r| r.refund.clone())
                .collect(),
        }
    }
}

/// The last four digits of the test number whose charges are declined.
const CHARGES_DECLINED: &str = "0341";
/// The end of the token of such a number.
const CHARGES_DECLINED_MARK: &str = "_nocharge";

/// A new token for an approved number: `tok_` and 24 random hex digits, marked when the
/// number's charges are to be declined.
fn token_for(number: &str) -> String {
    let mark = if number.ends_with(CHARGES_DECLINED) {
        CHARGES_DECLINED_MARK
    } else {
        ""
    };
    format!("tok_{}{mark}", random_hex())
}

/// What a token says about its number.
struct Token {
    charges_declined: bool,
}

impl Token {
    /// `None` for anything this simulator never made.
    fn read(token: &str) -> Option<Self> {
        let rest = token.strip_prefix("tok_")?;
        let (hex, charges_declined) = match rest.strip_suffix(CHARGES_DECLINED_MARK) {
            Some(hex) => (hex, true),
            None => (rest, false),
        };
        (hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(Self { charges_declined })
    }
}

fn random_hex() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests;
