//! Live state of a running graph: per-operator status and per-edge queues, read without
//! stopping anything, and published through the `metrics` facade.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::time::Instant;

use crate::Role;
use crate::channel::EdgeInfo;
use crate::control::PauseGate;

/// The names of the metrics the orchestrator publishes.
pub mod metric_names {
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
    /// [`Discard`](crate::RetryDisposition::Discard). Label `operator`.
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
}

/// Where an operator is in its life. Serialized in `snake_case` (`running`, `paused`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorState {
    /// Declared and wired, not started yet.
    Pending = 0,
    /// An incarnation is running.
    Running = 1,
    /// A source that was paused through [`GraphControls`](crate::GraphControls): started (or
    /// about to be), and holding its next send until it is resumed.
    Paused = 6,
    /// It failed and waits out its restart backoff.
    Restarting = 2,
    /// It returned `Ok(())`: done for good.
    Finished = 3,
    /// It panicked, spent its restart budget, or could not be restarted.
    Failed = 4,
    /// It was aborted at the shutdown deadline or during an escalation.
    Aborted = 5,
}

impl OperatorState {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => OperatorState::Running,
            2 => OperatorState::Restarting,
            3 => OperatorState::Finished,
            4 => OperatorState::Failed,
            5 => OperatorState::Aborted,
            6 => OperatorState::Paused,
            _ => OperatorState::Pending,
        }
    }

    /// The state's name as it is serialized: `pending`, `running`, `paused`, `restarting`,
    /// `finished`, `failed` or `aborted`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorState::Pending => "pending",
            OperatorState::Running => "running",
            OperatorState::Paused => "paused",
            OperatorState::Restarting => "restarting",
            OperatorState::Finished => "finished",
            OperatorState::Failed => "failed",
            OperatorState::Aborted => "aborted",
        }
    }

    /// Whether the operator is done for good: finished, failed or aborted.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperatorState::Finished | OperatorState::Failed | OperatorState::Aborted
        )
    }
}

impl std::fmt::Display for OperatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest last-error text a snapshot keeps, in bytes; longer texts are cut at a character
/// boundary and end with `…`. Error chains can be long, and a snapshot is served over HTTP.
pub const MAX_ERROR_TEXT: usize = 512;

const NOT_RUNNING: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct OperatorStatus {
    pub(crate) name: Arc<str>,
    pub(crate) role: Role,
    state: AtomicU8,
    restarts: AtomicU64,
    /// Nanoseconds after the monitor's epoch when the running incarnation started.
    started_at: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// A source's pause gate; `None` for operators and sinks.
    pub(crate) pause: Option<Arc<PauseGate>>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

/// A cheap, cloneable view of a running graph's state.
///
/// Every read is of atomics, except the last error text, which sits behind a lock held only to
/// copy a string.
#[derive(Debug, Clone)]
pub struct GraphMonitor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    operators: Vec<OperatorStatus>,
    edges: Vec<Arc<EdgeInfo>>,
}

/// A point-in-time copy of a graph's state, ready to serialize.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphSnapshot {
    /// Every vertex, in declaration order.
    pub operators: Vec<OperatorSnapshot>,
    /// Every edge, in declaration order.
    pub edges: Vec<EdgeSnapshot>,
}

/// One vertex in a [`GraphSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorSnapshot {
    /// Its name.
    pub name: String,
    /// `source`, `operator` or `sink`.
    pub role: &'static str,
    /// Where it is in its life.
    pub state: OperatorState,
    /// Restarts so far.
    pub restarts: u64,
    /// Seconds since the running incarnation started; 0 when not running.
    pub uptime_seconds: f64,
    /// Items taken from its incoming edges.
    pub received: u64,
    /// Items put on its outgoing edges, once per edge.
    pub sent: u64,
    /// Items that were still queued on its input when it finished or failed for good, dropped
    /// with the queue. Zero in a graph that drains.
    pub dropped: u64,
    /// The last error it returned or the message it panicked with, if any, cut to
    /// [`MAX_ERROR_TEXT`] bytes.
    pub last_error: Option<String>,
    /// Whether it is a source that is paused (see [`GraphControls`](crate::GraphControls)).
    /// Always `false` for operators and sinks.
    pub paused: bool,
}

/// One edge in a [`GraphSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeSnapshot {
    /// `from->to`.
    pub name: String,
    /// How many items it holds.
    pub capacity: usize,
    /// Items queued now.
    pub depth: u64,
    /// Items sent on it so far.
    pub sent: u64,
    /// Items received from it so far.
    pub received: u64,
    /// Seconds producers spent waiting for room on it.
    pub blocked_seconds: f64,
    /// Items that could not be delivered because its consumer had finished for good.
    pub dropped: u64,
    /// `plain`, `priority` (emergency and routine lanes) or `broadcast` (lossy).
    pub kind: &'static str,
    /// Items sent on the emergency lane of a priority edge (0 on other edges).
    pub emergency: u64,
    /// Items the edge's filter did not keep (0 on an edge without a filter): routed elsewhere,
    /// not lost.
    pub filtered: u64,
    /// Items a lagging consumer of a broadcast edge missed (0 on other edges).
    pub lagged: u64,
}

impl GraphMonitor {
    /// `vertices` are `(name, role, pause gate)`, the gate present for sources only.
    pub(crate) fn new(
        vertices: Vec<(Arc<str>, Role, Option<Arc<PauseGate>>)>,
        edges: Vec<Arc<EdgeInfo>>,
        epoch: Instant,
    ) -> Self {
        // One pass over the edges, not one per vertex: graphs of tens of thousands of vertices
        // must build in linear time.
        let mut inputs = vec![Vec::new(); vertices.len()];
        let mut outputs = vec![Vec::new(); vertices.len()];
        for (i, edge) in edges.iter().enumerate() {
            if let Some(list) = inputs.get_mut(edge.to) {
                list.push(i);
            }
            if let Some(list) = outputs.get_mut(edge.from) {
                list.push(i);
            }
        }
        let operators = vertices
            .into_iter()
            .zip(inputs.into_iter().zip(outputs))
            .map(|((name, role, pause), (inputs, outputs))| OperatorStatus {
                name,
                role,
                state: AtomicU8::new(0),
                restarts: AtomicU64::new(0),
                started_at: AtomicU64::new(NOT_RUNNING),
                dropped: AtomicU64::new(0),
                last_error: Mutex::new(None),
                pause,
                inputs,
                outputs,
            })
            .collect();
        GraphMonitor {
            inner: Arc::new(Inner {
                epoch,
                operators,
                edges,
            }),
        }
    }

    pub(crate) fn operator(&self, index: usize) -> Option<&OperatorStatus> {
        self.inner.operators.get(index)
    }

    pub(crate) fn operator_count(&self) -> usize {
        self.inner.operators.len()
    }

    pub(crate) fn set_state(&self, index: usize, state: OperatorState) {
        if let Some(op) = self.operator(index) {
            op.state.store(state as u8, Ordering::Relaxed);
            let started = if state == OperatorState::Running {
                nanos_since(self.inner.epoch)
            } else {
                NOT_RUNNING
            };
            op.started_at.store(started, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_restart(&self, index: usize, error: &anyhow::Error) {
        if let Some(op) = self.operator(index) {
            op.restarts.fetch_add(1, Ordering::Relaxed);
            self.record_error(index, error);
            metrics::counter!(metric_names::OPERATOR_RESTART_TOTAL, "operator" => op.name.to_string())
                .increment(1);
        }
    }

    pub(crate) fn record_error(&self, index: usize, error: &anyhow::Error) {
        self.record_failure(index, &format!("{error:#}"));
    }

    /// Keeps `text` (an error chain or a panic message) as the operator's last error, cut to
    /// [`MAX_ERROR_TEXT`] bytes.
    pub(crate) fn record_failure(&self, index: usize, text: &str) {
        if let Some(op) = self.operator(index) {
            let mut last = op.last_error.lock().unwrap_or_else(|p| p.into_inner());
            *last = Some(bounded(text, MAX_ERROR_TEXT));
        }
    }

    pub(crate) fn record_dropped(&self, index: usize, items: u64) {
        if let Some(op) = self.operator(index) {
            op.dropped.fetch_add(items, Ordering::Relaxed);
        }
    }

    /// Items dropped over the whole graph: still queued on the input of a vertex that finished
    /// or failed for good, or sent to an edge whose consumer had already finished. Zero when the
    /// graph drained.
    pub fn dropped_items(&self) -> u64 {
        let queued: u64 = self
            .inner
            .operators
            .iter()
            .map(|op| op.dropped.load(Ordering::Relaxed))
            .sum();
        let undelivered: u64 = self.inner.edges.iter().map(|e| e.dropped.get()).sum();
        queued + undelivered
    }

    /// Restarts over the whole graph so far.
    pub fn total_restarts(&self) -> u64 {
        self.inner
            .operators
            .iter()
            .map(|op| op.restarts.load(Ordering::Relaxed))
            .sum()
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> GraphSnapshot {
        let now = nanos_since(self.inner.epoch);
        let edges = &self.inner.edges;
        let sum = |indices: &[usize], pick: fn(&EdgeInfo) -> u64| -> u64 {
            indices
                .iter()
                .filter_map(|&i| edges.get(i))
                .map(|e| pick(e))
                .sum()
        };
        let operators = self
            .inner
            .operators
            .iter()
            .map(|op| {
                let started = op.started_at.load(Ordering::Relaxed);
                let uptime = if started == NOT_RUNNING {
                    0.0
                } else {
                    now.saturating_sub(started) as f64 / 1e9
                };
                let paused = op.pause.as_ref().is_some_and(|gate| gate.is_paused());
                let state = match OperatorState::from_u8(op.state.load(Ordering::Relaxed)) {
                    // A paused source that runs (or has yet to start) is reported as paused; a
                    // restart backoff or a terminal state says more than the pause does.
                    OperatorState::Running | OperatorState::Pending if paused => {
                        OperatorState::Paused
                    }
                    state => state,
                };
                OperatorSnapshot {
                    name: op.name.to_string(),
                    role: op.role.noun(),
                    state,
                    restarts: op.restarts.load(Ordering::Relaxed),
                    uptime_seconds: uptime,
                    received: sum(&op.inputs, |e| e.received.get()),
                    sent: sum(&op.outputs, |e| e.sent.get()),
                    dropped: op.dropped.load(Ordering::Relaxed),
                    last_error: op
                        .last_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone(),
                    paused,
                }
            })
            .collect();
        let edges = edges
            .iter()
            .map(|e| EdgeSnapshot {
                name: e.name.clone(),
                capacity: e.capacity,
                depth: e.depth(),
                sent: e.sent.get(),
                received: e.received.get(),
                blocked_seconds: e.blocked_nanos.get() as f64 / 1e9,
                dropped: e.dropped.get(),
                kind: e.kind.noun(),
                emergency: e.emergency.get(),
                filtered: e.filtered.get(),
                lagged: e.lagged.get(),
            })
            .collect();
        GraphSnapshot { operators, edges }
    }

    /// Publishes the current state through the `metrics` facade (see [`metric_names`]). The
    /// supervisor calls this on every metrics tick; it is cheap enough to call on demand too.
    pub fn publish_metrics(&self) {
        let snapshot = self.snapshot();
        for op in snapshot.operators {
            let label = op.name;
            metrics::gauge!(metric_names::OPERATOR_UPTIME_SECONDS, "operator" => label.clone())
                .set(op.uptime_seconds);
            metrics::counter!(metric_names::OPERATOR_RECEIVED_TOTAL, "operator" => label.clone())
                .absolute(op.received);
            metrics::counter!(metric_names::OPERATOR_SENT_TOTAL, "operator" => label.clone())
                .absolute(op.sent);
            metrics::counter!(metric_names::OPERATOR_RESTART_TOTAL, "operator" => label)
                .absolute(op.restarts);
        }
        for edge in snapshot.edges {
            let label = edge.name;
            metrics::gauge!(metric_names::EDGE_QUEUE_DEPTH, "edge" => label.clone())
                .set(edge.depth as f64);
            metrics::gauge!(metric_names::EDGE_CAPACITY, "edge" => label.clone())
                .set(edge.capacity as f64);
            metrics::counter!(metric_names::EDGE_SEND_BLOCKED_SECONDS_TOTAL, "edge" => label.clone())
                .absolute(edge.blocked_seconds as u64);
            // Only the edges of those kinds get the series, so plain graphs export nothing new.
            match edge.kind {
                "broadcast" => {
                    metrics::counter!(metric_names::EDGE_LAGGED_ITEMS_TOTAL, "edge" => label)
                        .absolute(edge.lagged);
                }
                "priority" => {
                    metrics::counter!(metric_names::EDGE_EMERGENCY_ITEMS_TOTAL, "edge" => label)
                        .absolute(edge.emergency);
                }
                _ => {}
            }
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary, ending with `…` when cut.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    const ELLIPSIS: char = '…';
    let mut end = max.saturating_sub(ELLIPSIS.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len_utf8());
    cut.push_str(&text[..end]);
    cut.push(ELLIPSIS);
    cut
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(NOT_RUNNING - 1)
}
