use super::*;
use crate::domain::catalogue::Product;

fn seoul() -> Address {
    Address::seoul()
}

fn product(sku: &str, price: u64, active: bool) -> Product {
    Product {
        sku: Sku::parse(sku).unwrap(),
        name: format!("{sku} name"),
        unit_price: price,
        active,
        updated_at: Timestamp(0),
    }
}

fn line(sku: &str, quantity: u32) -> LineRequest {
    LineRequest {
        sku: Sku::parse(sku).unwrap(),
        quantity,
    }
}

#[test]
fn addresses_are_checked_field_by_field() {
    assert!(seoul().check().is_ok());
    let bad = Address {
        name: String::new(),
        line2: Some("\u{7}".into()),
        postal_code: "x".repeat(101),
        country: "kr".into(),
        ..seoul()
    };
    let fields: Vec<_> = bad
        .check()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "shippingAddress.name",
            "shippingAddress.line2",
            "shippingAddress.postalCode",
            "shippingAddress.country"
        ]
    );
    for country in ["ZZ", "K", "KOR", ""] {
        let a = Address {
            country: country.into(),
            ..seoul()
        };
        assert!(a.check().is_err(), "{country}");
    }
    for country in ["US", "JP", "DE", "ZW", "AD"] {
        let a = Address {
            country: country.into(),
            ..seoul()
        };
        assert!(a.check().is_ok(), "{country}");
    }
}

#[test]
fn lines_are_priced_from_the_catalogue_and_unknown_or_inactive_skus_name_their_line() {
    let catalogue = [product("tee", 19_000, true), product("old", 5_000, false)];
    let find = |sku: &Sku| catalogue.iter().find(|p| &p.sku == sku).cloned();
    let (lines, total) = price(&[line("tee", 2)], find).unwrap();
    assert_eq!(total, 38_000);
    assert_eq!(lines[0].amount, 38_000);
    assert_eq!(lines[0].name, "tee name");
    let errors = price(&[line("tee", 1), line("old", 1), line("nope", 1)], find).unwrap_err();
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_ref()).collect();
    assert_eq!(fields, ["items[1].sku", "items[2].sku"]);
}

#[test]
fn a_total_past_one_hundred_million_is_refused() {
    let catalogue = [product("gold", 100_000_000, true)];
    let find = |sku: &Sku| catalogue.iter().find(|p| &p.sku == sku).cloned();
    assert!(price(&[line("gold", 1)], find).is_ok());
    let errors = price(&[line("gold", 2)], find).unwrap_err();
    assert_eq!(errors[0].field, "items");
}

#[test]
fn only_a_placed_order_starts_a_cancellation_and_a_shipped_one_refuses() {
    let catalogue = [product("tee", 19_000, true)];
    let find = |sku: &Sku| catalogue.iter().find(|p| &p.sku == sku).cloned();
    let (items, total) = price(&[line("tee", 1)], find).unwrap();
    let mut order = Order {
        id: OrderId(1),
        customer_id: CustomerId::parse("alice").unwrap(),
        paymethod_id: PaymethodId(1),
        status: OrderStatus::Placed,
        items,
        total,
        shipping_address: seoul(),
        payment_id: PaymentId(1),
        refund_payment_id: None,
        cancellation: None,
        version: 1,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    assert_eq!(order.cancel_request(), CancelRequest::Start);
    let next = order.next(Timestamp(5), |o| o.status = OrderStatus::Cancelling);
    assert_eq!((next.version, next.updated_at), (2, Timestamp(5)));
    assert_eq!(next.cancel_request(), CancelRequest::AlreadyAsked);
    order.status = OrderStatus::Shipped;
    assert_eq!(order.cancel_request(), CancelRequest::Shipped);
    assert_eq!(order.refund_key(), "order-1-refund");
}
