//! The shipment aggregate's state and rules (the seller's side of seed 004): exactly one per
//! placed order, made from `OrderPlaced` by the shipping actor; the seller ships it, or the
//! cancellation saga cancels it — whichever comes first decides.

use super::order::{Address, OrderId, OrderLine};
use super::{CustomerId, FieldError, Timestamp};
use serde::{Deserialize, Serialize};

/// A shipment's id: positive, assigned by the store, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShipmentId(pub u64);

impl std::fmt::Display for ShipmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipmentStatus {
    Pending,
    Shipped,
    Cancelled,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Shipped, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// The index byte of listings by status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub id: ShipmentId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub status: ShipmentStatus,
    pub items: Vec<OrderLine>,
    pub shipping_address: Address,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub version: u64,
    pub created_at: Timestamp,
    pub shipped_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
}

/// What happens to a shipment, as the log records it (with the shipment afterwards). These
/// events have no message of their own: the customer hears of them through the order's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipmentEvent {
    Created { shipment: Shipment },
    Shipped { shipment: Shipment },
    Cancelled { shipment: Shipment },
}

impl ShipmentEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "ShipmentCreated",
            Self::Shipped { .. } => "ShipmentShipped",
            Self::Cancelled { .. } => "ShipmentCancelled",
        }
    }

    pub fn shipment(&self) -> &Shipment {
        match self {
            Self::Created { shipment }
            | Self::Shipped { shipment }
            | Self::Cancelled { shipment } => shipment,
        }
    }
}

/// Which shipment event a saved change records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentChange {
    Shipped,
    Cancelled,
}

impl ShipmentChange {
    pub fn event(self, shipment: Shipment) -> ShipmentEvent {
        match self {
            Self::Shipped => ShipmentEvent::Shipped { shipment },
            Self::Cancelled => ShipmentEvent::Cancelled { shipment },
        }
    }
}

/// The seller's word that it left: carrier and tracking number, 1–64 printable characters each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub carrier: String,
    pub tracking_number: String,
}

impl Dispatch {
    pub fn check(carrier: String, tracking_number: String) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (field, value) in [("carrier", &carrier), ("trackingNumber", &tracking_number)] {
            let n = value.chars().count();
            if n == 0 || n > 64 || value.chars().any(char::is_control) || value.trim().is_empty() {
                errors.push(FieldError::new(
                    field,
                    "must be 1 to 64 printable characters, not only spaces",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self {
                carrier,
                tracking_number,
            })
        } else {
            Err(errors)
        }
    }
}

/// What a ship command means for a shipment in its present state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipDecision {
    Ship(Box<Shipment>),
    /// Shipped already: answered as it is.
    AlreadyShipped,
    /// Cancelled: 409.
    Cancelled,
}

/// What the saga's cancel means for a shipment in its present state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelDecision {
    Cancel(Box<Shipment>),
    AlreadyCancelled,
    /// The seller shipped it first.
    Shipped,
}

impl Shipment {
    /// A pending shipment for `order`, made now.
    pub fn for_order(id: ShipmentId, order: &super::order::Order, now: Timestamp) -> Self {
        Self {
            id,
            order_id: order.id,
            customer_id: order.customer_id.clone(),
            status: ShipmentStatus::Pending,
            items: order.items.clone(),
            shipping_address: order.shipping_address.clone(),
            carrier: None,
            tracking_number: None,
            version: 1,
            created_at: now,
            shipped_at: None,
            cancelled_at: None,
        }
    }

    pub fn ship(&self, dispatch: Dispatch, now: Timestamp) -> ShipDecision {
        match self.status {
            ShipmentStatus::Pending => ShipDecision::Ship(Box::new(Self {
                status: ShipmentStatus::Shipped,
                carrier: Some(dispatch.carrier),
                tracking_number: Some(dispatch.tracking_number),
                shipped_at: Some(now),
                version: self.version + 1,
                ..self.clone()
            })),
            ShipmentStatus::Shipped => ShipDecision::AlreadyShipped,
            ShipmentStatus::Cancelled => ShipDecision::Cancelled,
        }
    }

    pub fn cancel(&self, now: Timestamp) -> CancelDecision {
        match self.status {
            ShipmentStatus::Pending => CancelDecision::Cancel(Box::new(Self {
                status: ShipmentStatus::Cancelled,
                cancelled_at: Some(now),
                version: self.version + 1,
                ..self.clone()
            })),
            ShipmentStatus::Cancelled => CancelDecision::AlreadyCancelled,
            ShipmentStatus::Shipped => CancelDecision::Shipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Shipment {
        Shipment {
            id: ShipmentId(9),
            order_id: OrderId(5),
            customer_id: CustomerId::parse("alice").unwrap(),
            status: ShipmentStatus::Pending,
            items: Vec::new(),
            shipping_address: crate::domain::order::Address::seoul(),
            carrier: None,
            tracking_number: None,
            version: 1,
            created_at: Timestamp(0),
            shipped_at: None,
            cancelled_at: None,
        }
    }

    fn cj() -> Dispatch {
        Dispatch::check("CJ".into(), "1234".into()).unwrap()
    }

    #[test]
    fn whichever_of_ship_and_cancel_comes_first_decides() {
        let ShipDecision::Ship(shipped) = pending().ship(cj(), Timestamp(3)) else {
            panic!("a pending shipment ships");
        };
        assert_eq!(shipped.status, ShipmentStatus::Shipped);
        assert_eq!(shipped.version, 2);
        assert_eq!(
            shipped.ship(cj(), Timestamp(4)),
            ShipDecision::AlreadyShipped
        );
        assert_eq!(shipped.cancel(Timestamp(4)), CancelDecision::Shipped);

        let CancelDecision::Cancel(cancelled) = pending().cancel(Timestamp(3)) else {
            panic!("a pending shipment cancels");
        };
        assert_eq!(cancelled.cancelled_at, Some(Timestamp(3)));
        assert_eq!(
            cancelled.cancel(Timestamp(4)),
            CancelDecision::AlreadyCancelled
        );
        assert_eq!(cancelled.ship(cj(), Timestamp(4)), ShipDecision::Cancelled);
    }

    #[test]
    fn carrier_and_tracking_number_are_checked() {
        assert!(Dispatch::check("CJ".into(), "1".into()).is_ok());
        let errors = Dispatch::check(" ".into(), "x".repeat(65)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["carrier", "trackingNumber"]);
        assert_eq!(
            ShipmentStatus::parse("shipped"),
            Some(ShipmentStatus::Shipped)
        );
        assert_eq!(ShipmentStatus::parse("lost"), None);
    }
}
