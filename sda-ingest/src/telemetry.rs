//! The process-wide Prometheus recorder behind the control plane's `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the Prometheus recorder; /metrics is off");
                    None
                }
            }
        })
        .clone()
}
