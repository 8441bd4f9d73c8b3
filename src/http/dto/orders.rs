//! Orders and shipments, as their routes take and show them.

use crate::actors::order::OrderRead;
use crate::domain::order::{Address, OrderLine};
use crate::domain::{Order, Shipment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderBody {
    /// Whose order. Required, except with a `customer` key (its own when omitted).
    #[serde(default)]
    #[schema(
        example = "alice",
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$",
        min_length = 1,
        max_length = 64
    )]
    pub customer_id: Option<String>,
    /// The customer's payment method to charge.
    #[serde(deserialize_with = "super::whole_number")]
    #[schema(value_type = i64, minimum = 1, maximum = 9223372036854775807_i64, example = 7)]
    pub paymethod_id: i64,
    /// 1–50 lines.
    #[schema(min_items = 1, max_items = 50)]
    pub items: Vec<LineBody>,
    pub shipping_address: AddressBody,
}

/// One line of `POST /orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineBody {
    #[schema(example = "tee-white-m", pattern = "^[a-z0-9._-]{1,64}$")]
    pub sku: String,
    /// 1–99.
    #[serde(deserialize_with = "super::whole_number")]
    #[schema(value_type = i64, minimum = 1, maximum = 99, example = 2)]
    pub quantity: i64,
}

/// A postal address: `name`, `line1`, `city` and `postalCode` of 1–100 printable characters
/// (`line2` optional), `country` ISO 3166-1 alpha-2.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressBody {
    #[schema(example = "Alice Kim", min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(example = "1 Jongno", min_length = 1, max_length = 100)]
    pub line1: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub line2: Option<String>,
    #[schema(example = "Seoul", min_length = 1, max_length = 100)]
    pub city: String,
    #[schema(example = "03154", min_length = 1, max_length = 100)]
    pub postal_code: String,
    #[schema(example = "KR", pattern = "^[A-Z]{2}$")]
    pub country: String,
}

impl From<AddressBody> for Address {
    fn from(a: AddressBody) -> Self {
        Self {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<&Address> for AddressBody {
    fn from(a: &Address) -> Self {
        Self {
            name: a.name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }
    }
}

/// A priced line.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineView {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price: u64,
    pub amount: u64,
}

impl From<&OrderLine> for OrderLineView {
    fn from(l: &OrderLine) -> Self {
        Self {
            sku: l.sku.as_str().to_owned(),
            name: l.name.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            amount: l.amount,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatusView {
    Placed,
    Cancelling,
    Cancelled,
    Shipped,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CancelOutcomeView {
    Refunded,
    RefusedShipped,
}

/// A cancellation's progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancellationView {
    pub requested_at: String,
    /// Refund calls that failed so far (retried with backoff until one succeeds).
    pub refund_attempts: u32,
    pub last_error: Option<String>,
    /// `null` until decided.
    pub outcome: Option<CancelOutcomeView>,
}

/// An order (`Order` in `docs/api.md`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: u64,
    pub customer_id: String,
    pub paymethod_id: u64,
    pub status: OrderStatusView,
    pub items: Vec<OrderLineView>,
    pub total: u64,
    #[schema(example = "KRW")]
    pub currency: &'static str,
    pub shipping_address: AddressBody,
    /// The approved charge.
    pub payment_id: u64,
    pub refund_payment_id: Option<u64>,
    /// `null` until the shipment exists.
    pub shipment_id: Option<u64>,
    pub cancellation: Option<CancellationView>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl OrderView {
    pub fn new(order: &Order, shipment_id: Option<u64>) -> Self {
        use crate::domain::order::{CancelOutcome, OrderStatus};
        Self {
            id: order.id.0,
            customer_id: order.customer_id.to_string(),
            paymethod_id: order.paymethod_id.0,
            status: match order.status {
                OrderStatus::Placed => OrderStatusView::Placed,
                OrderStatus::Cancelling => OrderStatusView::Cancelling,
                OrderStatus::Cancelled => OrderStatusView::Cancelled,
                OrderStatus::Shipped => OrderStatusView::Shipped,
            },
            items: order.items.iter().map(OrderLineView::from).collect(),
            total: order.total,
            currency: crate::domain::order::CURRENCY,
            shipping_address: AddressBody::from(&order.shipping_address),
            payment_id: order.payment_id.0,
            refund_payment_id: order.refund_payment_id.map(|id| id.0),
            shipment_id,
            cancellation: order.cancellation.as_ref().map(|c| CancellationView {
                requested_at: c.requested_at.to_rfc3339(),
                refund_attempts: c.refund_attempts,
                last_error: c.last_error.clone(),
                outcome: c.outcome.map(|o| match o {
                    CancelOutcome::Refunded => CancelOutcomeView::Refunded,
                    CancelOutcome::RefusedShipped => CancelOutcomeView::RefusedShipped,
                }),
            }),
            version: order.version,
            created_at: order.created_at.to_rfc3339(),
            updated_at: order.updated_at.to_rfc3339(),
        }
    }
}

impl From<&OrderRead> for OrderView {
    fn from(r: &OrderRead) -> Self {
        Self::new(&r.order, r.shipment_id.map(|id| id.0))
    }
}

/// A page of orders, ordered by id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    pub next_after: Option<u64>,
}

/// `GET /orders`: whose orders, and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    /// Whose orders. Required, except with a `customer` key (its own).
    #[param(
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$"
    )]
    pub customer_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub after: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShipmentStatusView {
    Pending,
    Shipped,
    Cancelled,
}

/// A shipment (`Shipment` in `docs/api.md`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentView {
    pub id: u64,
    pub order_id: u64,
    pub customer_id: String,
    pub status: ShipmentStatusView,
    pub items: Vec<OrderLineView>,
    pub shipping_address: AddressBody,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub created_at: String,
    pub shipped_at: Option<String>,
    pub cancelled_at: Option<String>,
}

impl From<&Shipment> for ShipmentView {
    fn from(s: &Shipment) -> Self {
        use crate::domain::shipment::ShipmentStatus;
        Self {
            id: s.id.0,
            order_id: s.order_id.0,
            customer_id: s.customer_id.to_string(),
            status: match s.status {
                ShipmentStatus::Pending => ShipmentStatusView::Pending,
                ShipmentStatus::Shipped => ShipmentStatusView::Shipped,
                ShipmentStatus::Cancelled => ShipmentStatusView::Cancelled,
            },
            items: s.items.iter().map(OrderLineView::from).collect(),
            shipping_address: AddressBody::from(&s.shipping_address),
            carrier: s.carrier.clone(),
            tracking_number: s.tracking_number.clone(),
            created_at: s.created_at.to_rfc3339(),
            shipped_at: s.shipped_at.map(|t| t.to_rfc3339()),
            cancelled_at: s.cancelled_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentPage {
    pub items: Vec<ShipmentView>,
    pub next_after: Option<u64>,
}

/// `GET /shipments`: which status (all when omitted), and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListShipmentsQuery {
    #[param(value_type = Option<ShipmentStatusView>)]
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub after: Option<u64>,
}

/// `POST /shipments/{id}/ship`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShipBody {
    #[schema(example = "CJ", min_length = 1, max_length = 64)]
    pub carrier: String,
    #[schema(example = "1234", min_length = 1, max_length = 64)]
    pub tracking_number: String,
}

/// Whether shipping runs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShippingView {
    pub paused: bool,
}
