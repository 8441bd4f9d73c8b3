//! Test helpers: rows stored the way the aggregates store them, without the actors.

use crate::domain::intent::IntentRef;
use crate::domain::{
    AccountNumber, CustomerId, Kind, Payment, PaymethodId, Position, StoredMethod,
};
use crate::store::{OpenIntent, Redb, Register};

/// Registers payment method `id` for `customer` as its aggregate does after an approval, and
/// returns the position of its event.
pub fn register(store: &Redb, id: u64, customer: &CustomerId) -> Position {
    let base = format!("reg_{id}");
    let open = OpenIntent {
        base: base.clone(),
        nonce: format!("n{id}"),
        customer_id: customer.clone(),
        paymethod_id: None,
        amount: 0,
        order_id: None,
    };
    let nonce = store
        .commit(&[open.into()])
        .unwrap()
        .remove(0)
        .unwrap()
        .nonce;
    let number = AccountNumber::parse(Kind::Card, "4242424242424242").unwrap();
    let method = StoredMethod::registered(
        PaymethodId(id),
        customer.clone(),
        &number,
        None,
        format!("tok_{id}"),
        format!("f{id}"),
    );
    let payment = Payment::verification(customer.clone(), None, None, format!("auth_{id}"));
    let command = Register {
        method,
        payment,
        intent: IntentRef {
            base,
            nonce: nonce.unwrap(),
        },
        idempotency: None,
    };
    let outcome = store.commit(&[command.into()]).unwrap().remove(0).unwrap();
    outcome.position.unwrap()
}
