//! Logging and metrics set-up, and the catalogue of every metric name paytree records.

mod catalogue;

pub use catalogue::names;
use catalogue::{DELAY_BUCKETS, describe, start_at_zero};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Installs the Prometheus recorder once per process and returns its handle; later calls
/// return the same handle. Histograms get buckets so they render as real histograms.
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const BUCKETS: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let mut builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::STORE_BATCH_SIZE.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
                .expect("bucket lists are not empty");
            for delay in [
                names::DELIVERY_DELAY,
                names::PROJECTION_DELAY,
                names::CANCEL_DURATION,
            ] {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(delay.into()), DELAY_BUCKETS)
                    .expect("bucket lists are not empty");
            }
            let recorder = builder
                .set_buckets(BUCKETS)
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
                process().describe();
                start_at_zero();
                let upkeep = handle.clone();
                // Upkeep drains histogram buffers; without it memory grows between scrapes.
                std::thread::Builder::new()
                    .name("metrics-upkeep".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(Duration::from_secs(5));
                            upkeep.run_upkeep();
                        }
                    })
                    .expect("spawning a thread");
            }
            handle
        })
        .clone()
}

/// The process's own figures (resident memory, CPU time, open files, threads), read from
/// `/proc` each time `/metrics` is scraped, as `paytree_process_*`.
fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| metrics_process::Collector::new("paytree_"))
}

/// Reads the process's figures now (called before each `/metrics` answer).
pub fn collect_process_metrics() {
    process().collect();
}

/// Reads the data directory's disk use now (called before each `/metrics` answer): a few
/// file sizes and one `statvfs`.
pub fn collect_disk_metrics(data_dir: &std::path::Path) {
    use metrics::gauge;
    let usage = crate::maintenance::disk::usage(data_dir);
    gauge!(names::STORE_FILE).set(usage.store as f64);
    gauge!(names::DATA_DIR).set(usage.files as f64);
    if let Some(space) = usage.free {
        gauge!(names::DATA_DIR_AVAILABLE).set(space.available as f64);
        gauge!(names::DATA_DIR_FILESYSTEM).set(space.capacity as f64);
    }
}

/// Logs to stderr through a writer thread of its own (a request never waits for the
/// terminal or a pipe; when its queue is full, logging waits rather than drop lines);
/// `RUST_LOG` filters (default `info`; `RUST_LOG=info,paytree::access=off` leaves out the
/// access log). Keep the guard until the end: dropping it writes what is queued.
pub fn init_logging() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("paytree-log")
        .finish(std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    guard
}
