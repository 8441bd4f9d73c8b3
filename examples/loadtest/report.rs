//! Latency percentiles per request, raw and with goose's coordinated-omission mitigation,
//! and the outage's figures.

use crate::book::Book;
use crate::outage::OutageOutcome;
use goose::metrics::{GooseMetrics, GooseRequestMetricAggregate, GooseRequestMetricTimingData};
use std::time::Duration;

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn percentiles(data: &GooseRequestMetricTimingData) -> String {
    format!(
        "{:>9} {:>9} {:>9}",
        ms(data.percentile_us(0.50)),
        ms(data.percentile_us(0.95)),
        ms(data.percentile_us(0.99)),
    )
}

pub fn latencies(metrics: &GooseMetrics) {
    println!("\n=== Latency (ms): raw | with coordinated-omission mitigation");
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}  statuses",
        "request", "count", "p50", "p95", "p99", "p50", "p95", "p99"
    );
    let mut names: Vec<_> = metrics.requests.keys().collect();
    names.sort();
    let mut summaries = Vec::new();
    for name in names {
        let request = &metrics.requests[name];
        let co = request
            .coordinated_omission_data
            .as_ref()
            .map_or_else(|| format!("{:>29}", "-"), percentiles);
        let mut statuses: Vec<_> = request.status_code_counts.iter().collect();
        statuses.sort();
        let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        summaries.push(summary(name, request, metrics.duration));
        println!(
            "{:<24} {:>9} {} | {}  {}",
            name,
            request.raw_data.counter,
            percentiles(&request.raw_data),
            co,
            statuses.join(" ")
        );
    }
    // One line per request for scripts (benches/compare.sh): requests/s over goose's
    // measured duration, and the CO-mitigated percentiles where there are some.
    for line in summaries {
        println!("{line}");
    }
}

fn summary(name: &str, request: &GooseRequestMetricAggregate, duration: usize) -> String {
    let data = request
        .coordinated_omission_data
        .as_ref()
        .unwrap_or(&request.raw_data);
    let ok: usize = request
        .status_code_counts
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    format!(
        "SUMMARY\t{}\t{}\t{:.0}\t{}\t{}\t{}",
        name.replace(' ', "_"),
        request.raw_data.counter,
        ok as f64 / duration.max(1) as f64,
        ms(data.percentile_us(0.50)),
        ms(data.percentile_us(0.95)),
        ms(data.percentile_us(0.99)),
    )
}

/// Requests of the run answered 429 (a key over paytree's per-key rate limit).
pub fn rate_limited(metrics: &GooseMetrics) -> usize {
    metrics
        .requests
        .values()
        .filter_map(|r| r.status_code_counts.get(&429))
        .sum()
}

/// The `q` quantile of `times` (nearest rank).
pub fn quantile(times: &mut [Duration], q: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.sort();
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
    times[rank - 1]
}

pub fn outage(outcome: &OutageOutcome, book: &Book) {
    let mut unavailable = book.unavailable_times();
    let us = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!("\n=== Outage");
    println!(
        "payment system down for      {:.1} s",
        outcome.down_for.as_secs_f64()
    );
    println!("breaker openings             {}", outcome.openings);
    println!(
        "seen open (pairs of looks)   {:.1} s",
        outcome.open_covered.as_secs_f64()
    );
    println!("calls reaching it while open {}", outcome.calls_while_open);
    println!("breaker at the end           {}", outcome.final_state);
    println!(
        "503 answers                  {} (p50 {}, p99 {}, max {}; client-side, every 503 of the run)",
        unavailable.len(),
        us(quantile(&mut unavailable, 0.50)),
        us(quantile(&mut unavailable, 0.99)),
        us(quantile(&mut unavailable, 1.0)),
    );
    println!(
        "SUMMARY\toutage_503\t{}\t-\t{}\t{}\t{}",
        unavailable.len(),
        ms(quantile(&mut unavailable, 0.50).as_micros() as u64),
        ms(quantile(&mut unavailable, 0.95).as_micros() as u64),
        ms(quantile(&mut unavailable, 0.99).as_micros() as u64),
    );
}

/// The `shop` scenario's figures: orders placed per second while every user ran, and each
/// cancellation's time by the server's timestamps (`None` with `--no-audit`, which reads
/// nothing back).
///
/// Orders per second are counted by the load test itself: the 201s it got whose answer came
/// between goose's start of `Maintaining` (every user launched) and its next step, over that
/// span. Not goose's status-code count: with coordinated-omission mitigation on, goose adds
/// its synthetic copies of slow requests to `status_code_counts` too.
pub fn shop(metrics: &GooseMetrics, figures: Option<&crate::shop::audit::Figures>) {
    use goose::test_plan::TestPlanStepAction;
    println!("\n=== Shop");
    let steps = &metrics.history;
    let window = steps
        .iter()
        .position(|s| matches!(s.action, TestPlanStepAction::Maintaining))
        .and_then(|i| {
            let end = steps.get(i + 1)?;
            Some((
                steps[i].timestamp.timestamp_millis(),
                end.timestamp.timestamp_millis(),
            ))
        });
    let till = crate::shop::till();
    match window {
        Some((from, to)) if to > from => {
            let placed = till
                .placed_at
                .iter()
                .filter(|&&at| (from..to).contains(&at))
                .count();
            let seconds = (to - from) as f64 / 1000.0;
            let per_second = placed as f64 / seconds;
            println!(
                "orders placed / s             {per_second:.1} ({placed} orders answered 201 in the {seconds:.1} s all {} users ran; {} in the whole run)",
                metrics.maximum_users,
                till.placed.len()
            );
            println!("SUMMARY\torders_placed_per_s\t{placed}\t{per_second:.1}\t-\t-\t-");
        }
        _ => println!("orders placed / s             - (goose recorded no steady phase)"),
    }
    drop(till);
    let Some(figures) = figures else {
        println!("(no cancellation times: the run was not audited)");
        return;
    };
    let rows = [
        ("cancel_to_refunded", "cancel → refunded", &figures.refunded),
        ("cancel_to_refused", "cancel → refused", &figures.refused),
    ];
    for (key, label, times) in rows {
        let mut times = times.clone();
        let show = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let (p50, p95, p99, max) = (
            quantile(&mut times, 0.50),
            quantile(&mut times, 0.95),
            quantile(&mut times, 0.99),
            quantile(&mut times, 1.0),
        );
        if times.is_empty() {
            println!("{label:<29} none");
        } else {
            println!(
                "{label:<29} n {}, p50 {}, p99 {}, max {} (cancellation.requestedAt → updatedAt)",
                times.len(),
                show(p50),
                show(p99),
                show(max)
            );
        }
        println!(
            "SUMMARY\t{key}\t{}\t-\t{}\t{}\t{}",
            times.len(),
            ms(p50.as_micros() as u64),
            ms(p95.as_micros() as u64),
            ms(p99.as_micros() as u64),
        );
    }
}
