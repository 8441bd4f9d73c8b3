//! The `shop` scenario: seed 004's clothing shop under load.
//!
//! - Before the load, with the admin key, [`stock`] puts the [`PRODUCTS`] in the catalogue
//!   (`PUT /admin/products/{sku}`, KRW prices).
//! - Customers (goose scenario `shop customer`, weight 7): each user is one customer of its
//!   own, with the user's `service` key. It registers the card 4242 4242 4242 4242 once, then
//!   loops over two transactions: `place order` (1–3 lines of distinct products, 1–3 of each,
//!   under an `Idempotency-Key` resent on a 503 or a lost answer) and `cancel due orders`.
//!   [`CANCEL_SHARE`] of the orders placed are cancelled: half of them at once (in the next
//!   transaction), half once a random wait of [`CANCEL_WAIT_MS`] has passed, so that some
//!   cancellations race the seller.
//! - Sellers (goose scenario `shop seller`, weight 1: with goose's round-robin allocation the
//!   2nd of every 8 users, so 1 seller for `-u 2` to `-u 9` and 2 for `-u 10` to `-u 17`), each
//!   with a `seller` key of its own (made as the `service` keys are, see `keys.rs`): `ship
//!   pending` finds the newest page of pending shipments ([`PENDING_PAGE`]) and ships those no
//!   other seller has taken; goose waits [`SELLER_WAIT_MS`] between two rounds. Sellers chase
//!   the newest orders so that they race cancellations even when customers order faster than
//!   they ship; the shipments they leave behind stay pending (their orders stay `placed`).
//!
//! Two answers that goose would count as failures are the contract's and are marked successes:
//! a cancel answered 409 `order-already-shipped` and a ship answered 409 `shipment-cancelled`.
//! Every answer is noted in the [`Till`] for the audit (`audit.rs`), which compares paytree
//! with the payment system's ledger, so the scenario needs `--provider`.

pub mod audit;
mod checks;
mod customer;
mod seller;

use customer::{cancel_due, place, start as start_customer};
use goose::prelude::*;
use seller::{ship_pending, start as start_seller};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

/// sku, name, unit price in KRW.
pub const PRODUCTS: [(&str, &str, u64); 5] = [
    ("tee-white-m", "White T-shirt (M)", 19_000),
    ("hoodie-grey-l", "Grey hoodie (L)", 49_000),
    ("jeans-indigo-32", "Indigo jeans (32)", 59_000),
    ("socks-black-3", "Black socks (3 pairs)", 9_000),
    ("cap-navy", "Navy cap", 25_000),
];

/// The card every customer registers (the payment system approves its charges).
pub const CARD: &str = "4242 4242 4242 4242";
/// The share of placed orders that are cancelled; half of them at once.
pub const CANCEL_SHARE: f64 = 0.30;
/// The wait before the other half is cancelled.
pub const CANCEL_WAIT_MS: RangeInclusive<u64> = 20..=1_500;
/// Pending shipments a seller lists per page, and ships at most per round.
pub const PENDING_PAGE: usize = 50;
/// goose's wait between a seller's rounds.
pub const SELLER_WAIT_MS: (u64, u64) = (50, 150);

/// The two scenarios: customers and sellers, weighted 7 : 1.
pub fn scenarios() -> Result<Vec<Scenario>, GooseError> {
    let (min_wait, max_wait) = SELLER_WAIT_MS;
    Ok(vec![
        scenario!("shop customer")
            .set_weight(7)?
            .register_transaction(
                transaction!(start_customer)
                    .set_on_start()
                    .set_name("start customer"),
            )
            .register_transaction(transaction!(place).set_name("place order"))
            .register_transaction(transaction!(cancel_due).set_name("cancel due orders")),
        scenario!("shop seller")
            .set_weight(1)?
            .set_wait_time(
                Duration::from_millis(min_wait),
                Duration::from_millis(max_wait),
            )?
            .register_transaction(
                transaction!(start_seller)
                    .set_on_start()
                    .set_name("start seller"),
            )
            .register_transaction(transaction!(ship_pending).set_name("ship pending")),
    ])
}

/// Stocks the catalogue with [`PRODUCTS`] (`admin` sends the admin key).
pub async fn stock(admin: &reqwest::Client, host: &str) -> anyhow::Result<()> {
    for (sku, name, price) in PRODUCTS {
        let url = format!("{host}/admin/products/{sku}");
        let response = admin
            .put(&url)
            .json(&json!({"name": name, "unitPrice": price, "active": true}))
            .send()
            .await?;
        let status = response.status();
        if !(status == reqwest::StatusCode::OK || status == reqwest::StatusCode::CREATED) {
            anyhow::bail!("PUT {url} answered {status}");
        }
    }
    let list: Vec<String> = PRODUCTS
        .iter()
        .map(|(sku, _, price)| format!("{sku} {price} KRW"))
        .collect();
    println!("stocked {} products: {}", PRODUCTS.len(), list.join(", "));
    Ok(())
}

/// What the shop's users were answered: the audit's expectations.
#[derive(Default)]
pub struct Till {
    /// Orders answered 201: id → total.
    pub placed: BTreeMap<u64, u64>,
    /// When each 201 came, in Unix milliseconds (for orders placed per second).
    pub placed_at: Vec<i64>,
    /// `POST /orders` answered 402.
    pub declined: usize,
    /// `POST /orders` that got no 201 or 402: 503s or lost answers after every attempt, or
    /// another answer (a 4xx).
    pub unplaced: usize,
    /// The last answer to each order's cancel: 202, 200, or 409 (`order-already-shipped`).
    pub cancels: BTreeMap<u64, u16>,
    /// The answer to each shipment's ship: 200, or 409 (`shipment-cancelled`).
    pub ships: BTreeMap<u64, u16>,
    /// Shipments a seller has taken (so no two sellers ship one).
    taken: HashSet<u64>,
}

static TILL: LazyLock<Mutex<Till>> = LazyLock::new(Mutex::default);

pub fn till() -> MutexGuard<'static, Till> {
    TILL.lock().unwrap()
}

impl Till {
    /// Takes shipment `id` for one seller; false if another took it.
    fn take(&mut self, id: u64) -> bool {
        self.taken.insert(id)
    }

    /// Gives shipment `id` back (its ship got no final answer).
    fn release(&mut self, id: u64) {
        self.taken.remove(&id);
    }
}

/// A problem's type without its path (`order-already-shipped`); empty if it is not one.
fn problem_type(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or("")
}
