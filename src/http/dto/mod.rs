//! The JSON shapes of `docs/api.md`: request bodies (unknown fields rejected) and representations.
//! These are the OpenAPI schemas too, so what is documented is what is sent.

use crate::actors::{BreakerSnapshot, BreakerState};
use crate::domain::{Brand, Kind, Payment, PaymentMethod, PaymentPurpose, PaymentStatus};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use utoipa::{IntoParams, ToSchema};

mod catalogue;
mod keys;
mod notify;
mod orders;
pub use catalogue::*;
pub use keys::*;
pub use notify::*;
pub use orders::*;

/// `POST /paymethods`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterBody {
    /// 1–64 characters of `A-Z a-z 0-9 _ . -`, but not `.` or `..`. Required, except with a
    /// `customer` key, whose own customer it is when omitted (another one is 403).
    // Every customerId pattern says "not `.` or `..`" without look-ahead, which not every
    // schema tool supports.
    #[schema(
        example = "alice",
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$",
        min_length = 1,
        max_length = 64
    )]
    #[serde(default)]
    pub customer_id: Option<String>,
    /// `card` or `bank`.
    #[schema(value_type = KindView, example = "card")]
    pub kind: String,
    /// Card: 12–19 digits with a valid Luhn check digit; bank account: 6–20 digits. Spaces
    /// and dashes are ignored.
    #[schema(example = "4242 4242 4242 4242", pattern = "^[0-9 -]+$")]
    pub number: String,
    /// The caller's reference (order, reservation), a positive integer.
    #[serde(default, deserialize_with = "integral")]
    #[schema(minimum = 1, maximum = 9223372036854775807_i64, example = 17)]
    pub request_id: Option<i64>,
}

/// `PATCH /paymethods/{id}`: at least one field. A kind change needs the number too.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct ChangeBody {
    #[serde(default)]
    #[schema(value_type = Option<KindView>, example = "bank")]
    pub kind: Option<String>,
    #[serde(default)]
    #[schema(example = "110-123-456789", pattern = "^[0-9 -]+$")]
    pub number: Option<String>,
}

/// An integer as JSON Schema sees one: `17` and `17.0` alike. Anything else is a type error.
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(as_whole::<D::Error>)
        .transpose()
}

/// A required integer, as [`integral`] reads an optional one.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    as_whole(serde_json::Number::deserialize(d)?)
}

fn as_whole<E: serde::de::Error>(n: serde_json::Number) -> Result<i64, E> {
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        })
        .ok_or_else(|| E::custom("must be an integer within int64"))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KindView {
    Card,
    Bank,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BrandView {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Unionpay,
    Diners,
    Unknown,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MethodStatusView {
    Active,
}

/// A payment method (`PaymentMethod` in `docs/api.md`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodView {
    pub id: u64,
    pub customer_id: String,
    pub kind: KindView,
    /// The card's brand; `null` for bank accounts.
    pub brand: Option<BrandView>,
    pub last4: String,
    #[schema(example = "**** **** **** 4242")]
    pub masked_number: String,
    pub request_id: Option<u64>,
    pub status: MethodStatusView,
    pub version: u64,
    pub verification_payment_id: u64,
    #[schema(example = "2026-11-21T09:30:00.000Z")]
    pub created_at: String,
    pub updated_at: String,
}

impl From<&PaymentMethod> for PaymentMethodView {
    fn from(m: &PaymentMethod) -> Self {
        Self {
            id: m.id.0,
            customer_id: m.customer_id.to_string(),
            kind: match m.kind {
                Kind::Card => KindView::Card,
                Kind::Bank => KindView::Bank,
            },
            brand: m.brand.map(|b| match b {
                Brand::Visa => BrandView::Visa,
                Brand::Mastercard => BrandView::Mastercard,
                Brand::Amex => BrandView::Amex,
                Brand::Discover => BrandView::Discover,
                Brand::Jcb => BrandView::Jcb,
                Brand::Unionpay => BrandView::Unionpay,
                Brand::Diners => BrandView::Diners,
                Brand::Unknown => BrandView::Unknown,
            }),
            last4: m.last4.clone(),
            masked_number: crate::domain::number::mask(m.kind, &m.last4),
            request_id: m.request_id,
            status: MethodStatusView::Active,
            version: m.version,
            verification_payment_id: m.verification_payment_id.0,
            created_at: m.created_at.to_rfc3339(),
            updated_at: m.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PurposeView {
    Verification,
    Charge,
    Refund,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatusView {
    Approved,
    Declined,
    Refunded,
}

/// A payment record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: u64,
    /// `null` for a declined registration.
    pub paymethod_id: Option<u64>,
    /// The order a charge paid for or a refund repaid; `null` for a declined charge and
    /// for verifications.
    pub order_id: Option<u64>,
    pub customer_id: String,
    pub request_id: Option<u64>,
    pub purpose: PurposeView,
    pub amount: u64,
    #[schema(example = "KRW")]
    pub currency: String,
    pub status: PaymentStatusView,
    pub provider_reference: String,
    pub created_at: String,
}

impl From<&Payment> for PaymentView {
    fn from(p: &Payment) -> Self {
        Self {
            id: p.id.0,
            paymethod_id: p.paymethod_id.map(|id| id.0),
            order_id: p.order_id.map(|id| id.0),
            customer_id: p.customer_id.to_string(),
            request_id: p.request_id,
            purpose: match p.purpose {
                PaymentPurpose::Verification => PurposeView::Verification,
                PaymentPurpose::Charge => PurposeView::Charge,
                PaymentPurpose::Refund => PurposeView::Refund,
            },
            amount: p.amount,
            currency: p.currency.clone(),
            status: match p.status {
                PaymentStatus::Approved => PaymentStatusView::Approved,
                PaymentStatus::Declined => PaymentStatusView::Declined,
                PaymentStatus::Refunded => PaymentStatusView::Refunded,
            },
            provider_reference: p.provider_reference.clone(),
            created_at: p.created_at.to_rfc3339(),
        }
    }
}

/// A page of payment methods, ordered by id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodPage {
    pub items: Vec<PaymentMethodView>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<u64>,
}

/// A page of payment records, ordered by id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPage {
    pub items: Vec<PaymentView>,
    pub next_after: Option<u64>,
}

/// `GET /paymethods`: whose payment methods, and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListMethodsQuery {
    /// Whose payment methods. Required, except with a `customer` key (its own).
    #[param(
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$"
    )]
    pub customer_id: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only ids greater than this.
    #[param(minimum = 0)]
    pub after: Option<u64>,
}

/// `customerId` or `paymethodId` (at least one; both narrow to their intersection), and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListPaymentsQuery {
    #[param(
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$"
    )]
    pub customer_id: Option<String>,
    #[param(minimum = 1)]
    pub paymethod_id: Option<u64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub after: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerStateView {
    Closed,
    Open,
    HalfOpen,
}

/// The circuit breaker in front of the payment system.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerView {
    pub state: BreakerStateView,
    /// Seconds until an open breaker lets probes through; 0 unless open.
    pub retry_after_seconds: u64,
    pub probes_in_flight: u32,
    /// Times the breaker has opened since the process started.
    pub openings: u64,
    pub consecutive_failures_to_open: u32,
    pub failure_rate_to_open: f64,
    pub min_calls_in_window: u32,
    pub window_seconds: f64,
    pub open_seconds: f64,
    pub half_open_probes: u32,
    pub call_timeout_seconds: f64,
    /// The end of the last open period recorded in the store, in milliseconds since the Unix
    /// epoch (null if none): a restart before then starts with the breaker open. Each
    /// opening is recorded a moment after it happens.
    pub recorded_open_until_ms: Option<u64>,
    /// With replicas (PostgreSQL), the replica that answered: each replica has a breaker of
    /// its own, and this is its state. Null on one process.
    pub replica: Option<String>,
}

impl BreakerView {
    pub fn new(
        s: BreakerSnapshot,
        recorded_open_until: Option<SystemTime>,
        replica: Option<String>,
    ) -> Self {
        Self {
            state: match s.state {
                BreakerState::Closed => BreakerStateView::Closed,
                BreakerState::Open => BreakerStateView::Open,
                BreakerState::HalfOpen => BreakerStateView::HalfOpen,
            },
            retry_after_seconds: s.retry_after_seconds,
            probes_in_flight: s.probes_in_flight,
            openings: s.openings,
            consecutive_failures_to_open: s.config.consecutive_failures,
            failure_rate_to_open: s.config.failure_rate,
            min_calls_in_window: s.config.min_calls,
            window_seconds: s.config.window.as_secs_f64(),
            open_seconds: s.config.open_for.as_secs_f64(),
            half_open_probes: s.config.half_open_probes,
            call_timeout_seconds: s.config.call_timeout.as_secs_f64(),
            recorded_open_until_ms: recorded_open_until
                .map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64),
            replica,
        }
    }
}

/// The answer to a release from quarantine.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub id: u64,
    /// False if the payment method was not quarantined (nothing changed).
    pub was_quarantined: bool,
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}
