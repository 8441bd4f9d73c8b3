//! The Grafana dashboard and the metrics catalogue against a live `/metrics`: every series
//! the dashboard queries exists after a small workload, and every family is described and
//! named by the house rules.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every `paytree_*` name in the dashboard's queries.
fn dashboard_series() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/paytree.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "the dashboard has its queries");
    exprs
        .iter()
        .flat_map(|e| names_in(e))
        .collect::<BTreeSet<_>>()
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("paytree_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Series names (without labels) and each family's `# TYPE`, from a `/metrics` text.
fn exposition(text: &str) -> (BTreeSet<String>, BTreeMap<String, String>, BTreeSet<String>) {
    let mut series = BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split_once(' ').unwrap().0.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap();
            series.insert(line[..end].to_owned());
        }
    }
    (series, types, helped)
}

async fn spawn_hook() -> String {
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn every_series_the_dashboard_queries_exists_and_every_family_is_described() {
    let hook = spawn_hook().await;
    let flags = [
        "--notify-webhook",
        &hook,
        "--notify-webhook-secret",
        "dashboard-secret",
        "--passivate-after-ms",
        "100",
    ];
    // Every series must exist because of this workload alone: a process of its own.
    let app = spawn_process_with(&flags).await;

    // A small workload that touches every part: registrations (one keyed and replayed, one
    // declined), a change after its aggregate was passivated, reads, webhook deliveries.
    let body = json!({"customerId": "dina", "kind": "card", "number": VISA});
    assert_eq!(app.register_with_key("k-1", &body).await.status(), 201);
    assert_eq!(app.register_with_key("k-1", &body).await.status(), 201);
    assert_eq!(app.register("dina", "card", DECLINED).await.status(), 402);
    let id = app.register_ok("dina", MASTERCARD).await.id();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = app
        .change(id, &json!({"kind": "bank", "number": BANK}), None)
        .await;
    assert_eq!(r.status(), 200);
    app.mypage("dina", Some(position(&r))).await;
    wait_for_messages(&app, "dina", 3).await;
    // Orders: one cancelled (the saga refunds it), one shipped.
    let card = app.shopper("dina").await;
    let cancelled = app.order_ok("dina", card, 1).await.id();
    assert_eq!(app.cancel(cancelled).await.status(), 202);
    app.order_in(cancelled, "cancelled").await;
    let shipped = app.order_ok("dina", card, 2).await.id();
    let shipment = app.shipment_of(shipped).await;
    assert_eq!(app.ship(shipment).await.status(), 200);
    app.order_in(shipped, "shipped").await;

    let wanted = dashboard_series();
    let mut missing = wanted.clone();
    let mut text = String::new();
    for _ in 0..50 {
        text = app.metrics().await;
        let (series, _, _) = exposition(&text);
        missing.retain(|name| !series.contains(name));
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        missing.is_empty(),
        "the dashboard queries series that /metrics does not have: {missing:?}\n{text}"
    );

    let (series, types, helped) = exposition(&text);
    for (family, kind) in &types {
        assert!(family.starts_with("paytree_"), "{family}");
        assert!(helped.contains(family), "{family} has no description");
        match kind.as_str() {
            "counter" => assert!(family.ends_with("_total"), "counter {family}"),
            "histogram" => {}
            "gauge" => assert!(!family.ends_with("_total"), "gauge {family}"),
            other => panic!("{family} is a {other}; durations must be real histograms"),
        }
        // A point in time is a gauge, as Prometheus's own process metrics have it.
        if family.ends_with("_seconds") && !family.ends_with("_time_seconds") {
            assert_eq!(kind, "histogram", "{family}");
        }
    }
    // Every family rendered has its type, and the dashboard uses every family there is.
    let families: BTreeSet<String> = series
        .iter()
        .map(|s| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    s.strip_suffix(suffix)
                        .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(s)
                .to_owned()
        })
        .collect();
    let readme = include_str!("../../README.md");
    let catalogue = &readme[readme
        .find("### Metrics\n")
        .expect("the README lists the metrics")..];
    let catalogue = &catalogue[..catalogue[4..]
        .find("\n### ")
        .map_or(catalogue.len(), |i| i + 4)];
    for family in &families {
        assert!(
            catalogue.contains(&format!("| `{family}` |")),
            "{family} is not in the README's metrics catalogue"
        );
        assert!(types.contains_key(family), "{family} has no # TYPE");
        assert!(
            wanted.iter().any(|w| w == family
                || w.strip_prefix(family.as_str())
                    .is_some_and(|rest| ["_bucket", "_sum", "_count"].contains(&rest))),
            "{family} is on no dashboard panel"
        );
    }
}
