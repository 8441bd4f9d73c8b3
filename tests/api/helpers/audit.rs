//! The crash tests' audit, shared with the backup test: a Jepsen-style check of what a
//! store holds against what the clients were told and what the payment system recorded (see
//! `crash.rs` for the list of what it checks).

use super::workload::{Acks, customer};
use super::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What the audit found; every count but `acknowledged`, `orders`, `cancelled` and
/// `shipped` must be 0.
#[derive(Debug, Default)]
pub struct Report {
    pub rounds: usize,
    pub acknowledged: usize,
    pub lost: usize,
    pub duplicate: usize,
    pub missing_messages: usize,
    pub duplicate_messages: usize,
    pub unpaid: usize,
    pub charged_without_registration: usize,
    pub orders: usize,
    pub cancelled: usize,
    pub shipped: usize,
    pub refunds_wrong: usize,
    pub shipments_wrong: usize,
    /// Orders refused 422 because their card, whose registration was acknowledged, was not
    /// stored when the order came (lost, or acknowledged before its commit).
    pub orders_for_unstored_cards: usize,
}

/// Waits until the store has settled: every intent reconciled, shipping and the saga caught
/// up, and the notifier past a last registration of `customer(0)` (a marker of the head).
pub async fn settle(app: &TestApp) {
    let mut intents_open = f64::MAX;
    for _ in 0..300 {
        intents_open = metric(app, "paytree_payment_intents_open").await;
        if intents_open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(intents_open, 0.0, "the reconciler settled every intent");
    wait_for_the_saga(app).await;
    mark_the_head(app).await;
}

/// Registers a last method of `customer(0)` and waits until the notifier has made its
/// message (and so every message before it); the audit counts this one method beyond the
/// keys acknowledged.
pub async fn mark_the_head(app: &TestApp) {
    let last = app.register(&customer(0), "card", VISA).await;
    assert_eq!(last.status(), 201);
    // (A server that acknowledges before its commit cannot tell the position: 0.)
    let head = position(&last);
    if head > 0 {
        wait_for_event(app, &customer(0), head).await;
    } else {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// What the store the clients wrote to holds, checked against what they were told and what
/// the payment system's ledger says, for the customers of `writers` writers ([`settle`] it
/// first). With `snapshot`, the store is a backup the clients and the payment system went on
/// after: the checks that need the whole history (no duplicate beyond the keys acknowledged,
/// no approval that no record claims) are left out, and only what was acknowledged before
/// the backup began (`acks`) must be there.
pub async fn audit(
    app: &TestApp,
    provider: &TestProvider,
    a: Acks,
    writers: usize,
    snapshot: bool,
) -> Report {
    let mut report = Report {
        acknowledged: a.registered.len()
            + a.changed.len()
            + a.ordered.len()
            + a.cancels.len()
            + a.ships.len(),
        ..Report::default()
    };
    let mut stored: BTreeMap<u64, Value> = BTreeMap::new();
    let mut orders: BTreeMap<u64, Value> = BTreeMap::new();
    let mut payments = Vec::new();
    let mut messages = Vec::new();
    for w in 0..writers {
        let c = customer(w);
        for m in app.all_items(&format!("/paymethods?customerId={c}")).await {
            stored.insert(m.id(), m);
        }
        for o in app.all_items(&format!("/orders?customerId={c}")).await {
            orders.insert(o.id(), o);
        }
        payments.extend(app.all_items(&format!("/payments?customerId={c}")).await);
        messages.extend(app.all_items(&format!("/messages?customerId={c}")).await);
    }
    let shipments = app.all_items("/shipments").await;

    // Lost: anything acknowledged that is not stored as acknowledged.
    report.orders_for_unstored_cards = a.refused_orders;
    report.lost += a
        .registered
        .values()
        .filter(|id| !stored.contains_key(id))
        .count();
    report.lost += a
        .changed
        .iter()
        .filter(|(id, version)| {
            stored
                .get(id)
                .is_none_or(|m| m["version"].as_u64().unwrap() < **version)
        })
        .count();
    report.lost += a
        .ordered
        .values()
        .filter(|id| !orders.contains_key(id))
        .count();
    report.lost += a
        .cancels
        .iter()
        .filter(|id| {
            orders
                .get(id)
                .is_none_or(|o| o["status"] != "cancelled" && o["status"] != "shipped")
        })
        .count();
    report.lost += a
        .ships
        .iter()
        .filter(|id| {
            !shipments
                .iter()
                .any(|s| s.id() == **id && s["status"] == "shipped")
        })
        .count();
    // One extra method: the head marker `settle` registers without a key. A backup may hold
    // what was acknowledged after it began too: no bound.
    if !snapshot {
        report.duplicate = stored.len().saturating_sub(a.registered.len() + 1)
            + orders.len().saturating_sub(a.ordered.len());
    }

    // Messages: one per event the customer hears of, none twice.
    let mut per_event: BTreeMap<u64, usize> = BTreeMap::new();
    let mut of_method: BTreeMap<u64, u64> = BTreeMap::new();
    let mut of_order: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for m in &messages {
        *per_event.entry(m["eventId"].as_u64().unwrap()).or_default() += 1;
        if let Some(id) = m["paymethodId"].as_u64() {
            *of_method.entry(id).or_default() += 1;
        }
        if let Some(id) = m["orderId"].as_u64() {
            let kind = m["type"].as_str().unwrap().to_owned();
            of_order.entry(id).or_default().push(kind);
        }
    }
    report.duplicate_messages = per_event.values().filter(|n| **n > 1).count();
    for (id, method) in &stored {
        let version = method["version"].as_u64().unwrap();
        let got = of_method.get(id).copied().unwrap_or(0);
        report.missing_messages += version.saturating_sub(got) as usize;
        report.duplicate_messages += got.saturating_sub(version) as usize;
    }
    for (id, order) in &orders {
        let mut got = of_order.remove(id).unwrap_or_default();
        got.sort();
        let mut wanted: Vec<&str> = match order["status"].as_str().unwrap() {
            "placed" => vec!["OrderPlaced"],
            "cancelled" => vec!["OrderCancelled", "OrderPlaced"],
            _ if order["cancellation"].is_null() => vec!["OrderPlaced", "OrderShipped"],
            _ => vec!["OrderCancellationRefused", "OrderPlaced"],
        };
        wanted.sort();
        if got != wanted {
            eprintln!(
                "order {id} ({}): messages {got:?}, wanted {wanted:?}",
                order["status"]
            );
            report.missing_messages += wanted
                .iter()
                .filter(|w| !got.iter().any(|g| g == *w))
                .count();
            report.duplicate_messages += got.len().saturating_sub(wanted.len());
        }
    }
    report.duplicate_messages += of_order.values().map(Vec::len).sum::<usize>();

    // Paid: every method's verification and every order's charge is an approval of the
    // ledger (refunded only for a cancelled order); nothing approved is left unclaimed.
    let ledger = provider.ledger().await;
    let authorizations: BTreeMap<&str, &Value> = ledger["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a))
        .collect();
    let live: BTreeSet<&str> = authorizations
        .iter()
        .filter(|(_, a)| a["status"] == "approved" && a["refunded"] == false)
        .map(|(id, _)| *id)
        .collect();
    let by_id: BTreeMap<u64, &Value> = payments.iter().map(|p| (p.id(), p)).collect();
    for method in stored.values() {
        let payment = by_id.get(&method["verificationPaymentId"].as_u64().unwrap());
        let paid = payment.is_some_and(|p| {
            p["status"] == "approved" && live.contains(p["providerReference"].as_str().unwrap())
        });
        if !paid {
            report.unpaid += 1;
        }
    }
    for (id, order) in &orders {
        report.orders += 1;
        let total = order["total"].as_u64().unwrap();
        let charge = by_id.get(&order["paymentId"].as_u64().unwrap());
        let authorization =
            charge.and_then(|p| authorizations.get(p["providerReference"].as_str().unwrap()));
        let paid = charge.is_some_and(|p| {
            p["status"] == "approved" && p["orderId"] == *id && p["amount"] == total
        }) && authorization
            .is_some_and(|a| a["status"] == "approved" && a["amount"] == total);
        if !paid {
            report.unpaid += 1;
        }
        let refunds: Vec<&&Value> = by_id
            .values()
            .filter(|p| p["purpose"] == "refund" && p["orderId"] == *id)
            .collect();
        let refunded_at_provider =
            authorization.map_or(0, |a| a["refundedAmount"].as_u64().unwrap_or(0));
        let right = match order["status"].as_str().unwrap() {
            "cancelled" => {
                report.cancelled += 1;
                refunds.len() == 1
                    && refunds[0]["amount"] == total
                    && order["refundPaymentId"] == refunds[0]["id"]
                    && refunded_at_provider == total
            }
            status => {
                report.shipped += usize::from(status == "shipped");
                refunds.is_empty() && refunded_at_provider == 0
            }
        };
        if !right {
            eprintln!(
                "order {id}: refunds wrong: {order} {refunds:?} ledger refunded {refunded_at_provider}"
            );
            report.refunds_wrong += 1;
        }
    }
    let claimed: BTreeSet<&str> = payments
        .iter()
        .filter(|p| p["status"] == "approved")
        .map(|p| p["providerReference"].as_str().unwrap())
        .collect();
    // The payment system approved more after a backup began than the backup can claim.
    if !snapshot {
        report.charged_without_registration = live.iter().filter(|a| !claimed.contains(*a)).count();
    }

    // Shipments: exactly one per order, cancelled for a cancelled order, shipped for a
    // shipped one.
    let mut per_order: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for s in &shipments {
        per_order
            .entry(s["orderId"].as_u64().unwrap())
            .or_default()
            .push(s);
    }
    for (id, order) in &orders {
        let theirs = per_order.remove(id).unwrap_or_default();
        let status = order["status"].as_str().unwrap();
        let right = theirs.len() == 1
            && match status {
                "cancelled" => theirs[0]["status"] == "cancelled",
                "shipped" => theirs[0]["status"] == "shipped",
                _ => theirs[0]["status"] == "pending",
            };
        if !right {
            eprintln!("order {id} ({status}): shipments {theirs:?}");
            report.shipments_wrong += 1;
        }
    }
    report.shipments_wrong += per_order.len();
    report
}

/// Waits until shipping and the saga have handled every event and no step is pending.
async fn wait_for_the_saga(app: &TestApp) {
    for _ in 0..600 {
        let mut settled = true;
        for series in [
            "paytree_shipping_lag_events",
            "paytree_saga_lag_events",
            "paytree_saga_pending{step=\"cancel_shipment\"}",
            "paytree_saga_pending{step=\"refund\"}",
            "paytree_saga_pending{step=\"mark_shipped\"}",
        ] {
            settled &= metric(app, series).await == 0.0;
        }
        if settled {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the saga did not settle in 60 s");
}

impl Report {
    /// Asserts that the audit found nothing wrong (the checks an audit left out count 0).
    pub fn assert_clean(&self) {
        assert_eq!(self.lost, 0, "{self:?}");
        assert_eq!(self.duplicate, 0, "{self:?}");
        assert_eq!(self.missing_messages, 0, "{self:?}");
        assert_eq!(self.duplicate_messages, 0, "{self:?}");
        assert_eq!(self.unpaid, 0, "{self:?}");
        assert_eq!(self.charged_without_registration, 0, "{self:?}");
        assert_eq!(self.refunds_wrong, 0, "{self:?}");
        assert_eq!(self.shipments_wrong, 0, "{self:?}");
        assert_eq!(self.orders_for_unstored_cards, 0, "{self:?}");
    }

    pub fn summary(&self) -> String {
        format!(
            "audit: {} kill rounds, {} acknowledged, {} lost, {} duplicate, {} messages missing, {} duplicated, {} unpaid, {} charged without a registration or order; {} orders ({} cancelled, {} shipped), {} with wrong refunds, {} with wrong shipments, {} orders refused for an acknowledged card not stored",
            self.rounds,
            self.acknowledged,
            self.lost,
            self.duplicate,
            self.missing_messages,
            self.duplicate_messages,
            self.unpaid,
            self.charged_without_registration,
            self.orders,
            self.cancelled,
            self.shipped,
            self.refunds_wrong,
            self.shipments_wrong,
            self.orders_for_unstored_cards
        )
    }
}

/// Waits until the message of the event at `position` exists (the notifier works in order).
async fn wait_for_event(app: &TestApp, customer: &str, position: u64) {
    for _ in 0..200 {
        let messages = app.messages(customer).await;
        if messages.iter().any(|m| m["eventId"] == position) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message for event {position}");
}
