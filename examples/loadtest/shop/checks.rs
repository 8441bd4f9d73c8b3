//! The shop audit's checks, on what was read back once paytree had settled. Each check has a
//! name; a violation counts against it with up to five examples.

use super::Till;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The checks, in the order they are printed.
pub const CHECKS: [(&str, &str); 9] = [
    ("read", "every listing could be read"),
    (
        "settled",
        "lags 0, saga steps 0, no order cancelling (bounded wait)",
    ),
    (
        "acknowledged",
        "every answer the users got is what paytree holds",
    ),
    (
        "charge",
        "one approved charge per order, of its total, named by paymentId",
    ),
    (
        "refund-and-shipment",
        "cancelled: one refund of its total, shipment cancelled; shipped: no refund, shipment shipped; placed: neither, shipment pending",
    ),
    (
        "one-shipment-per-order",
        "exactly one shipment per order, none without an order",
    ),
    (
        "ledger-sum",
        "paytree's net charges equal the payment system's",
    ),
    (
        "ledger-per-order",
        "each order's charge and refund are the ledger's; no unrefunded approval unclaimed",
    ),
    (
        "messages",
        "one message per event, of the right type, none twice",
    ),
];

/// One customer as read back.
pub struct Customer {
    pub name: String,
    pub orders: Vec<Value>,
    pub payments: Vec<Value>,
    pub messages: Vec<Value>,
}

/// What the audit read: this run's customers, their shipments, the payment system's ledger.
pub struct Read {
    pub customers: Vec<Customer>,
    pub shipments: Vec<Value>,
    pub ledger: Value,
}

#[derive(Default)]
pub struct Counts {
    pub orders: usize,
    pub placed: usize,
    pub shipped: usize,
    pub refused: usize,
    pub cancelled: usize,
    pub other_status: usize,
    pub charges: usize,
    pub refunds: usize,
    /// Approved charges and refunds with no `orderId` (an approval nobody claimed, refunded).
    pub unclaimed_charges: usize,
    pub unclaimed_refunds: usize,
    pub declined_charges: usize,
    pub shipments: BTreeMap<String, usize>,
    pub messages: usize,
    /// Σ approved charges with an orderId − Σ refunds with an orderId, in paytree.
    pub paytree_net: i128,
    /// Σ approved authorizations with amount > 0 − Σ their refunded amounts, in the ledger.
    pub ledger_approved: i128,
    pub ledger_refunded: i128,
}

#[derive(Default)]
pub struct Tally {
    pub failures: BTreeMap<&'static str, (usize, Vec<String>)>,
    pub counts: Counts,
}

impl Tally {
    pub fn fail(&mut self, check: &'static str, example: String) {
        let entry = self.failures.entry(check).or_default();
        entry.0 += 1;
        if entry.1.len() < 5 {
            entry.1.push(example);
        }
    }
}

fn id(v: &Value, field: &str) -> Option<u64> {
    v[field].as_u64()
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// The outcome of an order's cancellation, if one was asked for.
fn outcome(order: &Value) -> Option<&str> {
    order["cancellation"]["outcome"].as_str()
}

pub fn all(read: &Read, till: &Till, tally: &mut Tally) {
    let mut shipments: HashMap<u64, Vec<&Value>> = HashMap::new();
    for s in &read.shipments {
        shipments
            .entry(id(s, "orderId").unwrap_or(0))
            .or_default()
            .push(s);
        *tally
            .counts
            .shipments
            .entry(text(s, "status").to_owned())
            .or_default() += 1;
    }
    let mut orders: HashMap<u64, &Value> = HashMap::new();
    for c in &read.customers {
        customer(c, &shipments, tally);
        orders.extend(c.orders.iter().filter_map(|o| Some((id(o, "id")?, o))));
    }
    for (order, list) in &shipments {
        if !orders.contains_key(order) {
            tally.fail(
                "one-shipment-per-order",
                format!(
                    "{} shipment(s) for no order of this run: {list:?}",
                    list.len()
                ),
            );
        }
    }
    acknowledged(till, &orders, &read.shipments, tally);
    ledger(read, tally);
}

fn customer(c: &Customer, shipments: &HashMap<u64, Vec<&Value>>, tally: &mut Tally) {
    let order_ids: HashSet<u64> = c.orders.iter().filter_map(|o| id(o, "id")).collect();
    let mut charges: HashMap<u64, Vec<&Value>> = HashMap::new();
    let mut refunds: HashMap<u64, Vec<&Value>> = HashMap::new();
    for p in &c.payments {
        let (purpose, status) = (text(p, "purpose"), text(p, "status"));
        match (purpose, id(p, "orderId")) {
            ("charge", Some(order)) => {
                if status == "approved" {
                    tally.counts.charges += 1;
                    tally.counts.paytree_net += i128::from(id(p, "amount").unwrap_or(0));
                }
                charges.entry(order).or_default().push(p);
            }
            ("charge", None) if status == "approved" => tally.counts.unclaimed_charges += 1,
            ("charge", None) => tally.counts.declined_charges += 1,
            ("refund", Some(order)) => {
                tally.counts.refunds += 1;
                tally.counts.paytree_net -= i128::from(id(p, "amount").unwrap_or(0));
                refunds.entry(order).or_default().push(p);
            }
            ("refund", None) => tally.counts.unclaimed_refunds += 1,
            _ => {}
        }
    }
    for (order, list) in charges.iter().chain(refunds.iter()) {
        if !order_ids.contains(order) {
            tally.fail(
                "charge",
                format!("{}: payments for no order of theirs: {list:?}", c.name),
            );
        }
    }
    for o in &c.orders {
        order(c, o, &charges, &refunds, shipments, tally);
    }
}

fn order(
    c: &Customer,
    o: &Value,
    charges: &HashMap<u64, Vec<&Value>>,
    refunds: &HashMap<u64, Vec<&Value>>,
    shipments: &HashMap<u64, Vec<&Value>>,
    tally: &mut Tally,
) {
    let counts = &mut tally.counts;
    counts.orders += 1;
    let order = id(o, "id").unwrap_or(0);
    let total = id(o, "total");
    let status = text(o, "status");
    let name = format!("{}: order {order} ({status}, total {total:?})", c.name);
    match status {
        "placed" => counts.placed += 1,
        "shipped" if outcome(o) == Some("refused-shipped") => {
            counts.shipped += 1;
            counts.refused += 1;
        }
        "shipped" => counts.shipped += 1,
        "cancelled" => counts.cancelled += 1,
        _ => {
            counts.other_status += 1;
            tally.fail("settled", format!("{name}: still {status}"));
        }
    }

    // One approved charge, of the total, named by paymentId.
    let mine = charges.get(&order).map(Vec::as_slice).unwrap_or_default();
    let approved: Vec<_> = mine.iter().filter(|p| p["status"] == "approved").collect();
    let good = mine.len() == 1
        && approved.len() == 1
        && id(approved[0], "amount") == total
        && id(approved[0], "id") == id(o, "paymentId");
    if !good {
        tally.fail(
            "charge",
            format!("{name}, paymentId {}: charges {mine:?}", o["paymentId"]),
        );
    }

    // Refund and shipment by status.
    let repaid = refunds.get(&order).map(Vec::as_slice).unwrap_or_default();
    let shipment = match shipments.get(&order).map(Vec::as_slice) {
        Some([one]) => {
            if id(one, "id") != id(o, "shipmentId") || one["customerId"] != o["customerId"] {
                tally.fail(
                    "one-shipment-per-order",
                    format!("{name}: shipmentId {} but {one}", o["shipmentId"]),
                );
            }
            text(one, "status")
        }
        list => {
            tally.fail(
                "one-shipment-per-order",
                format!("{name}: shipments {list:?}"),
            );
            "none"
        }
    };
    let refund_ok = match status {
        "cancelled" => {
            repaid.len() == 1
                && id(repaid[0], "amount") == total
                && id(repaid[0], "id") == id(o, "refundPaymentId")
                && outcome(o) == Some("refunded")
                && shipment == "cancelled"
        }
        "shipped" => {
            repaid.is_empty()
                && o["refundPaymentId"].is_null()
                && shipment == "shipped"
                && matches!(outcome(o), None | Some("refused-shipped"))
        }
        "placed" => {
            repaid.is_empty()
                && o["refundPaymentId"].is_null()
                && o["cancellation"].is_null()
                && shipment == "pending"
        }
        _ => true,
    };
    if !refund_ok {
        tally.fail(
            "refund-and-shipment",
            format!(
                "{name}: refundPaymentId {}, cancellation {}, shipment {shipment}, refunds {repaid:?}",
                o["refundPaymentId"], o["cancellation"]
            ),
        );
    }
}

/// Every 201 is an order of that total; every cancel and ship answer agrees with where its
/// order or shipment ended.
fn acknowledged(
    till: &Till,
    orders: &HashMap<u64, &Value>,
    shipments: &[Value],
    tally: &mut Tally,
) {
    for (order, total) in &till.placed {
        match orders.get(order) {
            Some(o) if id(o, "total") == Some(*total) => {}
            other => tally.fail(
                "acknowledged",
                format!("order {order} answered 201 with total {total}: {other:?}"),
            ),
        }
    }
    for (order, answer) in &till.cancels {
        let o = orders.get(order);
        let status = o.map_or("missing", |o| text(o, "status"));
        let ok = match answer {
            202 | 200 => {
                status == "cancelled"
                    || (status == "shipped"
                        && o.and_then(|o| outcome(o)) == Some("refused-shipped"))
            }
            409 => status == "shipped",
            _ => false,
        };
        if !ok {
            tally.fail(
                "acknowledged",
                format!("cancel of order {order} answered {answer}, the order is {status}: {o:?}"),
            );
        }
    }
    let by_id: HashMap<u64, &Value> = shipments
        .iter()
        .filter_map(|s| Some((id(s, "id")?, s)))
        .collect();
    for (shipment, answer) in &till.ships {
        let s = by_id.get(shipment);
        let status = s.map_or("missing", |s| text(s, "status"));
        let order = s
            .and_then(|s| orders.get(&id(s, "orderId")?))
            .map_or("missing", |o| text(o, "status"));
        let ok = match answer {
            200 => status == "shipped" && order == "shipped",
            409 => status == "cancelled" && order == "cancelled",
            _ => false,
        };
        if !ok {
            tally.fail(
                "acknowledged",
                format!("ship of shipment {shipment} answered {answer}: it is {status}, its order {order}"),
            );
        }
    }
}

/// The sums, and each order's charge and refund against the payment system's own record.
fn ledger(read: &Read, tally: &mut Tally) {
    let empty = Vec::new();
    let auths = read.ledger["authorizations"].as_array().unwrap_or(&empty);
    let refunds = read.ledger["refunds"].as_array().unwrap_or(&empty);
    let charged: Vec<&Value> = auths
        .iter()
        .filter(|a| a["status"] == "approved" && id(a, "amount").unwrap_or(0) > 0)
        .collect();
    for a in &charged {
        tally.counts.ledger_approved += i128::from(id(a, "amount").unwrap_or(0));
        tally.counts.ledger_refunded += i128::from(id(a, "refundedAmount").unwrap_or(0));
    }
    let ledger_net = tally.counts.ledger_approved - tally.counts.ledger_refunded;
    if tally.counts.paytree_net != ledger_net {
        tally.fail(
            "ledger-sum",
            format!(
                "paytree {} KRW, ledger {ledger_net} KRW",
                tally.counts.paytree_net
            ),
        );
    }

    let by_auth: HashMap<&str, &Value> = auths.iter().map(|a| (text(a, "id"), a)).collect();
    let refund_by_id: HashMap<&str, &Value> = refunds.iter().map(|r| (text(r, "id"), r)).collect();
    let mut claimed = HashSet::new();
    for c in &read.customers {
        let payments: HashMap<u64, &Value> = c
            .payments
            .iter()
            .filter_map(|p| Some((id(p, "id")?, p)))
            .collect();
        for o in &c.orders {
            let order = id(o, "id").unwrap_or(0);
            let total = id(o, "total").unwrap_or(0);
            let charge = id(o, "paymentId").and_then(|p| payments.get(&p));
            let reference = charge.map_or("", |p| text(p, "providerReference"));
            claimed.insert(reference);
            let refunded = if o["status"] == "cancelled" { total } else { 0 };
            let auth_ok = by_auth.get(reference).is_some_and(|a| {
                a["status"] == "approved"
                    && id(a, "amount") == Some(total)
                    && id(a, "refundedAmount") == Some(refunded)
            });
            let refund_ok = match id(o, "refundPaymentId").and_then(|p| payments.get(&p)) {
                None => refunded == 0,
                Some(r) => refund_by_id
                    .get(text(r, "providerReference"))
                    .is_some_and(|l| {
                        l["authorization"] == reference && id(l, "amount") == Some(total)
                    }),
            };
            if !auth_ok || !refund_ok {
                tally.fail(
                    "ledger-per-order",
                    format!(
                        "{}: order {order} ({}, total {total}): authorization {:?}, refund ok {refund_ok}",
                        c.name,
                        o["status"],
                        by_auth.get(reference)
                    ),
                );
            }
        }
    }
    for a in charged {
        let unclaimed = !claimed.contains(text(a, "id"));
        if unclaimed && id(a, "refundedAmount") != id(a, "amount") {
            tally.fail(
                "ledger-per-order",
                format!("an approval no order holds is not refunded in full: {a}"),
            );
        }
    }
}

/// The problems with one customer's messages: per order exactly one `OrderPlaced`, then one
/// `OrderShipped` (shipped), `OrderCancellationRefused` (shipped, its cancellation refused)
/// or `OrderCancelled` (cancelled); one `PaymentMethodRegistered` per card; nothing else, no
/// event twice. Empty when they are as they should be.
pub fn messages(c: &Customer) -> Vec<String> {
    let mut problems = Vec::new();
    let mut events = HashSet::new();
    let mut by_order: HashMap<u64, Vec<&str>> = HashMap::new();
    let mut registered: HashMap<u64, usize> = HashMap::new();
    for m in &c.messages {
        if !events.insert(id(m, "eventId")) {
            problems.push(format!("{}: event twice: {m}", c.name));
        }
        match (id(m, "orderId"), id(m, "paymethodId"), text(m, "type")) {
            (Some(order), None, kind) => by_order.entry(order).or_default().push(kind),
            (None, Some(method), "PaymentMethodRegistered") => {
                *registered.entry(method).or_default() += 1;
            }
            _ => problems.push(format!("{}: unexpected message {m}", c.name)),
        }
    }
    if let Some((method, n)) = registered.iter().find(|(_, n)| **n != 1) {
        problems.push(format!(
            "{}: method {method} has {n} registration messages",
            c.name
        ));
    }
    for o in &c.orders {
        let order = id(o, "id").unwrap_or(0);
        let mut expected = vec!["OrderPlaced"];
        match (text(o, "status"), outcome(o)) {
            ("shipped", Some("refused-shipped")) => expected.push("OrderCancellationRefused"),
            ("shipped", _) => expected.push("OrderShipped"),
            ("cancelled", _) => expected.push("OrderCancelled"),
            _ => {}
        }
        let mut got = by_order.remove(&order).unwrap_or_default();
        got.sort_unstable();
        expected.sort_unstable();
        if got != expected {
            problems.push(format!(
                "{}: order {order} ({}) has messages {got:?}, wants {expected:?}",
                c.name, o["status"]
            ));
        }
    }
    for (order, kinds) in by_order {
        problems.push(format!(
            "{}: messages {kinds:?} for order {order}, not one of theirs",
            c.name
        ));
    }
    problems
}
