//! The names of the metrics the orchestrator publishes, one constant each, so that exporters,
//! dashboards and tests refer to them without typos.

/// Gauge: 1, labelled with the running graph's topology fingerprint (`fingerprint`, 64
/// hexadecimal digits; see `graph::Fingerprint`), so that dashboards can tell which topology a
/// process runs.
pub const TOPOLOGY_INFO: &str = "topology_info";
/// Counter: restarts of an operator. Label `operator`.
pub const OPERATOR_RESTART_TOTAL: &str = "operator_restart_total";
/// Gauge: seconds since the operator's current incarnation started; 0 when not running.
/// Label `operator`.
pub const OPERATOR_UPTIME_SECONDS: &str = "operator_uptime_seconds";
/// Counter: items the operator took from its incoming edges. Label `operator`.
pub const OPERATOR_RECEIVED_TOTAL: &str = "operator_received_total";
/// Counter: items the operator put on its outgoing edges, counted once per edge. Label
/// `operator`.
pub const OPERATOR_SENT_TOTAL: &str = "operator_sent_total";
/// Gauge: 1 while the stall watchdog reports the operator as stalled (input queued, no
/// progress for its `stall_after`), 0 otherwise. Label `operator`.
pub const OPERATOR_STALLED: &str = "operator_stalled";
/// Counter: seconds a throttled source's sends waited for permits, in whole seconds. Label
/// `operator`.
pub const SOURCE_THROTTLED_SECONDS_TOTAL: &str = "source_throttled_seconds_total";
/// Gauge: items queued on an edge. Label `edge` (`from->to`).
pub const EDGE_QUEUE_DEPTH: &str = "edge_queue_depth";
/// Gauge: how many items an edge holds. Label `edge`.
pub const EDGE_CAPACITY: &str = "edge_capacity";
/// Counter: seconds producers spent waiting on a full edge (backpressure), in whole
/// seconds, since the `metrics` counters are integers. Label `edge`.
pub const EDGE_SEND_BLOCKED_SECONDS_TOTAL: &str = "edge_send_blocked_seconds_total";
/// Counter: items a lagging consumer of a lossy broadcast edge missed. Label `edge`.
pub const EDGE_LAGGED_ITEMS_TOTAL: &str = "edge_lagged_items_total";
/// Counter: items sent on the emergency lane of a priority edge. Label `edge`.
pub const EDGE_EMERGENCY_ITEMS_TOTAL: &str = "edge_emergency_items_total";
/// Gauge: a circuit breaker's state, 0 closed, 1 open, 2 half-open. Label `breaker`.
pub const CIRCUIT_BREAKER_STATE: &str = "circuit_breaker_state";
/// Counter: retries made by `with_retry`. Label `operator`.
pub const RETRY_ATTEMPTS_TOTAL: &str = "retry_attempts_total";
/// Counter: items `with_retry` dropped cleanly because the operation said
/// [`Discard`](crate::resilience::RetryDisposition::Discard). Label `operator`.
pub const RETRY_DISCARDED_TOTAL: &str = "retry_discarded_total";
/// Gauge: tasks submitted to a dedicated-runtime pool and not started yet. Label `pool`.
pub const POOL_QUEUE_DEPTH: &str = "pool_queue_depth";
/// Gauge: a pool's workers running a task now. Label `pool`.
pub const POOL_BUSY_WORKERS: &str = "pool_busy_workers";
/// Counter: requests answered by the HTTP control plane (feature `http`). Labels `method`,
/// `route` (the matched route template, `unmatched` when none matched) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram: seconds the HTTP control plane took to answer a request (feature `http`).
/// Labels `method` and `route`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Histogram: seconds a checkpoint took, from its start to its files written.
pub const CHECKPOINT_DURATION_SECONDS: &str = "checkpoint_duration_seconds";
/// Gauge: bytes the latest completed checkpoint takes on disk (manifest and states).
pub const CHECKPOINT_SIZE_BYTES: &str = "checkpoint_size_bytes";
/// Counter: checkpoints completed.
pub const CHECKPOINTS_COMPLETED_TOTAL: &str = "checkpoints_completed_total";
/// Counter: checkpoints abandoned (timed out, declined by a vertex, interrupted by a finish or
/// a shutdown, or not written).
pub const CHECKPOINTS_ABANDONED_TOTAL: &str = "checkpoints_abandoned_total";
