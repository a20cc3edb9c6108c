//! The process-wide Prometheus recorder behind the control plane's `/metrics`, and the
//! service's own record counters published as metrics.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::pipeline::{CounterSnapshot, Counters};

/// Histogram buckets, in seconds, for every histogram the service records (request latency).
const BUCKETS_S: &[f64] = &[
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The handle of the Prometheus recorder, installed as the global `metrics` recorder on first
/// use and shared by every later caller (a process has one global recorder).
///
/// Returns `None` when another global recorder was installed first (an embedding application
/// or a test recording metrics its own way); metrics then go there and `/metrics` says so.
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(BUCKETS_S)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the Prometheus recorder; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

/// Publishes the pipeline's record counters (see [`Counters`]) as
/// `ingest_records_total{stage}` and `ingest_alerts_total`, so the accounting identity can be
/// watched from Prometheus: `received = delivered + dead_lettered + duplicates + in flight`.
pub fn publish_counters(c: &CounterSnapshot) {
    for (stage, value) in [
        ("received", c.received),
        ("accepted", c.accepted),
        ("delivered", c.delivered),
        ("dead_lettered", c.dead_lettered),
        ("duplicates", c.duplicates),
        ("audited", c.audited),
        ("unwritten", c.unwritten),
    ] {
        metrics::counter!("ingest_records_total", "stage" => stage).absolute(value);
    }
    for (source, s) in &c.sources {
        for (stage, value) in [
            ("read", s.read),
            ("delivered", s.delivered),
            ("dead_lettered", s.dead_lettered),
            ("duplicates", s.duplicates),
            ("dropped", s.dropped),
        ] {
            metrics::counter!("ingest_source_records_total", "source" => *source, "stage" => stage)
                .absolute(value);
        }
    }
    metrics::counter!("ingest_alerts_total").absolute(c.alerts);
}

/// Publishes `counters` every `every` until the task is aborted.
pub fn spawn_publisher(counters: Arc<Counters>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            publish_counters(&counters.snapshot());
        }
    })
}

/// Gives every metric the service itself emits its HELP text and unit (the library describes
/// its own). Called once the recorder is installed: a description given to no recorder is
/// lost, and promtool rejects a metric without one.
fn describe() {
    metrics::describe_counter!(
        "ingest_records_total",
        metrics::Unit::Count,
        "Records per pipeline stage: received by normalize, accepted by validate, delivered \
         to observations.jsonl, dead-lettered, removed as duplicates, audited."
    );
    metrics::describe_counter!(
        "ingest_source_records_total",
        metrics::Unit::Count,
        "Records per source and fate: read (decoded, undecodable, or lost before decoding), \
         delivered, dead-lettered, duplicates, dropped. After a clean drain read equals the \
         sum of the other four."
    );
    metrics::describe_counter!(
        "ingest_alerts_total",
        metrics::Unit::Count,
        "Conjunction alerts written to alerts.jsonl."
    );
    metrics::describe_counter!(
        "kernel_dropped_total",
        metrics::Unit::Count,
        "UDP datagrams the kernel dropped on a source's socket before the service read them \
         (its receive buffer was full): never received, so not in read, reported here."
    );
    metrics::describe_counter!(
        "isl_reconnects_total",
        metrics::Unit::Count,
        "ISL link reconnects by reason (closed, error, idle, out_of_step)."
    );
    metrics::describe_counter!(
        "dead_letters_suppressed_total",
        metrics::Unit::Count,
        "Dead letters counted but not written by the dead-letter rate limit, per source and \
         reason."
    );
    metrics::describe_gauge!(
        "catalog_objects",
        metrics::Unit::Count,
        "Usable objects in the catalog the correlator associates and screens with."
    );
    metrics::describe_gauge!(
        "catalog_rejects",
        metrics::Unit::Count,
        "Element sets of the catalog in use that were rejected (skipped) when it was loaded."
    );
    metrics::describe_gauge!(
        "catalog_generation",
        metrics::Unit::Count,
        "Generation of the catalog in use: 1 at start, one more per catalog swapped in."
    );
    metrics::describe_counter!(
        "catalog_refresh_total",
        metrics::Unit::Count,
        "Catalog refresh checks by outcome: swapped (a new catalog is in use), unchanged, \
         failed (unreadable or nothing usable; the catalog in use was kept)."
    );
}
