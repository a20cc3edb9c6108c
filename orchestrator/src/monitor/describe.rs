//! HELP text and units for every metric the library emits.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use super::metric_names as m;

/// Describes every metric the library emits (see [`metric_names`](super::metric_names)) to
/// the installed `metrics` recorder: a HELP text and, where it has one, a unit.
///
/// Prometheus lints (`promtool check metrics`) reject metrics without HELP text, and the
/// Prometheus exporter writes `# HELP` lines only for described metrics. Descriptions go to the
/// recorder that is current when this runs, so call it **after** installing the recorder (a
/// description given to no recorder is lost). Calling it again is harmless.
/// With the `http` feature, `http::ControlPlane::new` calls it for you.
///
/// # Examples
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || {
///     sda_orchestrator::monitor::describe_metrics();
///     metrics::counter!("operator_restart_total", "operator" => "radar").increment(1);
/// });
/// let described = snapshotter
///     .snapshot()
///     .into_vec()
///     .into_iter()
///     .any(|(_, unit, help, _)| unit.is_some() && help.is_some());
/// assert!(described);
/// ```
pub fn describe_metrics() {
    describe_gauge!(
        m::TOPOLOGY_INFO,
        "Always 1: the running graph's topology fingerprint is the label."
    );
    describe_counter!(
        m::OPERATOR_RESTART_TOTAL,
        Unit::Count,
        "Restarts of an operator after it returned an error."
    );
    describe_gauge!(
        m::OPERATOR_UPTIME_SECONDS,
        Unit::Seconds,
        "Seconds since the operator's current incarnation started; 0 when it is not running."
    );
    describe_counter!(
        m::OPERATOR_RECEIVED_TOTAL,
        Unit::Count,
        "Items the operator took from its incoming edges."
    );
    describe_counter!(
        m::OPERATOR_SENT_TOTAL,
        Unit::Count,
        "Items the operator put on its outgoing edges, counted once per edge."
    );
    describe_gauge!(
        m::OPERATOR_STALLED,
        "1 while the operator has had input queued without progress for its stall_after, else 0."
    );
    describe_counter!(
        m::SOURCE_THROTTLED_SECONDS_TOTAL,
        Unit::Seconds,
        "Whole seconds a throttled source's sends waited for rate-limit permits."
    );
    describe_gauge!(
        m::EDGE_QUEUE_DEPTH,
        Unit::Count,
        "Items queued on an edge, sent and not yet received."
    );
    describe_gauge!(
        m::EDGE_CAPACITY,
        Unit::Count,
        "How many items an edge holds before its producer waits."
    );
    describe_counter!(
        m::EDGE_SEND_BLOCKED_SECONDS_TOTAL,
        Unit::Seconds,
        "Whole seconds producers spent waiting for room on a full edge (backpressure)."
    );
    describe_counter!(
        m::EDGE_LAGGED_ITEMS_TOTAL,
        Unit::Count,
        "Items a lagging consumer of a lossy broadcast edge missed."
    );
    describe_counter!(
        m::EDGE_EMERGENCY_ITEMS_TOTAL,
        Unit::Count,
        "Items sent on the emergency lane of a priority edge."
    );
    describe_gauge!(
        m::CIRCUIT_BREAKER_STATE,
        "State of a circuit breaker: 0 closed, 1 open, 2 half-open."
    );
    describe_counter!(
        m::RETRY_ATTEMPTS_TOTAL,
        Unit::Count,
        "Retries made after a transient failure."
    );
    describe_counter!(
        m::RETRY_DISCARDED_TOTAL,
        Unit::Count,
        "Items dropped cleanly because the operation asked for them to be discarded."
    );
    describe_gauge!(
        m::POOL_QUEUE_DEPTH,
        Unit::Count,
        "Tasks submitted to a dedicated-runtime pool and not started yet."
    );
    describe_gauge!(
        m::POOL_BUSY_WORKERS,
        Unit::Count,
        "Workers of a dedicated-runtime pool running a task now."
    );
    describe_counter!(
        m::HTTP_REQUESTS_TOTAL,
        Unit::Count,
        "Requests answered by the control plane, by method, matched route and status."
    );
    describe_histogram!(
        m::HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Seconds the control plane took to answer a request, by method and matched route."
    );
    describe_histogram!(
        m::CHECKPOINT_DURATION_SECONDS,
        Unit::Seconds,
        "Seconds a checkpoint took, from its start to its files written."
    );
    describe_gauge!(
        m::CHECKPOINT_SIZE_BYTES,
        Unit::Bytes,
        "Bytes the latest completed checkpoint takes on disk."
    );
    describe_counter!(
        m::CHECKPOINTS_COMPLETED_TOTAL,
        Unit::Count,
        "Checkpoints completed."
    );
    describe_counter!(
        m::CHECKPOINTS_ABANDONED_TOTAL,
        Unit::Count,
        "Checkpoints abandoned: timed out, declined, interrupted or not written."
    );
    #[cfg(feature = "nats")]
    describe_jetstream();
}

/// The JetStream vertices' metrics (feature `nats`).
#[cfg(feature = "nats")]
fn describe_jetstream() {
    use crate::nats as n;
    describe_counter!(
        n::JETSTREAM_PUBLISHED_TOTAL,
        Unit::Count,
        "Items a JetStream sink published and JetStream acknowledged storing."
    );
    describe_counter!(
        n::JETSTREAM_PUBLISH_FAILURES_TOTAL,
        Unit::Count,
        "Failed publish attempts of a JetStream sink (each retried; nothing is dropped)."
    );
    describe_counter!(
        n::JETSTREAM_RECEIVED_TOTAL,
        Unit::Count,
        "Messages a JetStream source took from its durable consumer."
    );
    describe_counter!(
        n::JETSTREAM_ACKED_TOTAL,
        Unit::Count,
        "Messages a JetStream source acknowledged once a checkpoint covering them completed."
    );
    describe_counter!(
        n::JETSTREAM_DECODE_FAILURES_TOTAL,
        Unit::Count,
        "Messages a JetStream source could not decode: terminated, never redelivered."
    );
    describe_counter!(
        n::JETSTREAM_CONSUME_ERRORS_TOTAL,
        Unit::Count,
        "Errors a JetStream source met fetching from its consumer (each retried)."
    );
}
