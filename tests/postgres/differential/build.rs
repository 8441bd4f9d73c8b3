//! Commands built as the aggregates build them, without the actors.

use paytree::auth::{AuditEntry, KeyId, KeyRecord, Role};
use paytree::domain::catalogue::{Product, Sku};
use paytree::domain::idempotency::IdempotencyClaim;
use paytree::domain::intent::IntentRef;
use paytree::domain::order::{Address, Cancellation, OrderLine, OrderStatus, StoredOrder};
use paytree::domain::{
    AccountNumber, CustomerId, IdempotencyKey, Kind, Order, OrderId, Payment, PaymentId,
    PaymentStatus, PaymethodId, Position, StoredMethod, Timestamp,
};
use paytree::store::{Change, OpenIntent, PlaceOrder, RecordDeclined, Register, SaveOrder};

pub fn customer(name: &str) -> CustomerId {
    CustomerId::parse(name).unwrap()
}

/// Card numbers that pass validation, picked by `n`.
pub fn number(n: u64) -> AccountNumber {
    const CARDS: [&str; 5] = [
        "4242424242424242",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "4012888888881881",
    ];
    AccountNumber::parse(Kind::Card, CARDS[n as usize % CARDS.len()]).unwrap()
}

pub fn open(base: &str, nonce: &str, customer: &CustomerId) -> OpenIntent {
    OpenIntent {
        base: base.into(),
        nonce: nonce.into(),
        customer_id: customer.clone(),
        paymethod_id: None,
        amount: 0,
        order_id: None,
    }
}

pub fn intent(base: &str, nonce: &str) -> IntentRef {
    IntentRef {
        base: base.into(),
        nonce: nonce.into(),
    }
}

pub fn claim(key: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: format!("fp_{key}"),
    }
}

/// Method `id` of `customer`, verified under `intent`, with its key `key`.
pub fn register(id: u64, customer: &CustomerId, intent: IntentRef, key: Option<&str>) -> Register {
    let method = StoredMethod::registered(
        PaymethodId(id),
        customer.clone(),
        &number(id),
        Some(id * 10),
        format!("tok_{id}"),
        format!("f{id}"),
    );
    let payment = Payment::verification(customer.clone(), None, Some(id * 10), intent.reference());
    Register {
        method,
        payment,
        intent,
        idempotency: key.map(claim),
    }
}

pub fn declined(customer: &CustomerId, intent: IntentRef, key: Option<&str>) -> RecordDeclined {
    let payment = Payment {
        status: PaymentStatus::Declined,
        decline_code: Some("insufficient_funds".into()),
        ..Payment::verification(customer.clone(), None, None, intent.reference())
    };
    RecordDeclined {
        payment,
        intent,
        idempotency: key.map(claim),
    }
}

/// `stored`'s next version, with number `n`, decided on `expected`.
pub fn change(stored: &StoredMethod, n: u64, expected: u64, intent: IntentRef) -> Change {
    let method = stored.changed(&number(n), format!("tok_c{n}"), format!("fc{n}"));
    let payment = Payment::verification(
        stored.method.customer_id.clone(),
        Some(stored.method.id),
        None,
        intent.reference(),
    );
    Change {
        method,
        expected_version: expected,
        previous: stored.method.attrs(),
        payment,
        intent,
    }
}

pub fn address() -> Address {
    Address {
        name: "Alice Kim".into(),
        line1: "1 Jongno".into(),
        line2: None,
        city: "Seoul".into(),
        postal_code: "03154".into(),
        country: "KR".into(),
    }
}

/// Order `id` of `customer`, paid with `paymethod`: two of tea.
pub fn order(id: u64, customer: &CustomerId, paymethod: u64) -> StoredOrder {
    let line = OrderLine {
        sku: Sku::parse("tea").unwrap(),
        name: "Tea".into(),
        quantity: 2,
        unit_price: 19_000,
        amount: 38_000,
    };
    StoredOrder {
        order: Order {
            id: OrderId(id),
            customer_id: customer.clone(),
            paymethod_id: PaymethodId(paymethod),
            status: OrderStatus::Placed,
            items: vec![line],
            total: 38_000,
            shipping_address: address(),
            payment_id: PaymentId(0),
            refund_payment_id: None,
            cancellation: None,
            version: 1,
            created_at: Timestamp(1_000),
            updated_at: Timestamp(1_000),
        },
        authorization: format!("auth_o{id}"),
        last_position: Position(0),
    }
}

pub fn place(order: &StoredOrder, intent: IntentRef, key: Option<&str>) -> PlaceOrder {
    let o = &order.order;
    let payment = Payment::charge(
        o.customer_id.clone(),
        o.paymethod_id,
        o.total,
        intent.reference(),
    );
    PlaceOrder {
        order: order.clone(),
        payment,
        intent,
        idempotency: key.map(claim),
    }
}

/// `stored`'s cancellation asked for, decided on `expected`.
pub fn cancel(stored: &StoredOrder, expected: u64) -> SaveOrder {
    let order = stored.order.next(Timestamp(2_000), |o| {
        o.status = OrderStatus::Cancelling;
        o.cancellation = Some(Cancellation {
            requested_at: Timestamp(2_000),
            refund_attempts: 0,
            last_error: None,
            outcome: None,
        });
    });
    SaveOrder {
        order: StoredOrder {
            order,
            ..stored.clone()
        },
        expected_version: expected,
        change: Some(paytree::domain::order::OrderChange::CancellationRequested),
        refund: None,
    }
}

pub fn key(name: &str, hash: &str) -> KeyRecord {
    KeyRecord {
        id: KeyId::generate(),
        hash: hash.into(),
        role: Role::Service,
        customer_id: None,
        name: name.into(),
        prefix: "ptk_abcd".into(),
        created_at: Timestamp(100),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

pub fn audit(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: Timestamp(500),
        key_id: None,
        action: action.into(),
        target: target.into(),
    }
}

pub fn product(sku: &str, price: u64, active: bool) -> Product {
    Product {
        sku: Sku::parse(sku).unwrap(),
        name: format!("The {sku}"),
        unit_price: price,
        active,
        updated_at: Timestamp(700),
    }
}
