//! Observing a running graph: per-operator status and per-edge queues, read without stopping
//! anything ([`GraphMonitor`], [`GraphSnapshot`]), and published through the `metrics` facade
//! under the names in [`metric_names`], each described by [`describe_metrics`].
//!
//! # Examples
//!
//! ```
//! use sda_orchestrator::monitor::OperatorState;
//! use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
//!
//! let mut graph = OperatorGraph::new();
//! let ticks = graph.add_source("ticks", RestartPolicy::default(), |mut ctx| async move {
//!     ctx.output.send(1u32).await?;
//!     Ok(())
//! });
//! let sink = graph.add_sink("sink", RestartPolicy::Never, |mut ctx: SinkContext<u32>| async move {
//!     while ctx.input.recv().await.is_some() {}
//!     Ok(())
//! });
//! graph.connect(&ticks, &sink);
//! let built = graph.build()?;
//! let snapshot = built.monitor().snapshot();
//! assert_eq!(snapshot.operators[0].name, "ticks");
//! assert_eq!(snapshot.operators[0].state, OperatorState::Pending); // not started yet
//! assert_eq!(snapshot.edges[0].name, "ticks->sink");
//! # Ok::<(), sda_orchestrator::BuildError>(())
//! ```

mod describe;
pub mod metric_names;
mod recent;
mod snapshot;
mod state;

pub use describe::describe_metrics;
pub use recent::RecentRing;
pub use snapshot::{EdgeSnapshot, GraphSnapshot, OperatorSnapshot};
pub use state::OperatorState;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::Role;
use crate::channel::{EdgeInfo, EdgeKind};
use crate::checkpoint::CheckpointStatus;
use crate::control::PauseGate;
use crate::events::EventBus;

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
    last_error: Mutex<Option<String>>,
    /// Whether the stall watchdog reports it as stalled now.
    stalled: AtomicBool,
    /// A source's pause gate; `None` for operators and sinks.
    pub(crate) pause: Option<Arc<PauseGate>>,
    /// Its incoming and outgoing edges: ranges of [`Inner::by_vertex`].
    inputs: std::ops::Range<usize>,
    outputs: std::ops::Range<usize>,
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
    /// Edge indices grouped by vertex, each vertex's incoming edges then its outgoing ones (see
    /// [`OperatorStatus::inputs`]): one array for the whole graph, not two lists per vertex.
    by_vertex: Vec<usize>,
    events: EventBus,
    checkpoints: Mutex<CheckpointStatus>,
}

impl Inner {
    fn inputs(&self, op: &OperatorStatus) -> &[usize] {
        self.by_vertex.get(op.inputs.clone()).unwrap_or_default()
    }

    fn outputs(&self, op: &OperatorStatus) -> &[usize] {
        self.by_vertex.get(op.outputs.clone()).unwrap_or_default()
    }
}

impl GraphMonitor {
    /// `vertices` are `(name, role, pause gate)`, the gate present for sources only.
    pub(crate) fn new(
        vertices: Vec<(Arc<str>, Role, Option<Arc<PauseGate>>)>,
        edges: Vec<Arc<EdgeInfo>>,
        epoch: Instant,
        events: EventBus,
    ) -> Self {
        // Counting passes over the edges into one array (incoming then outgoing edges of
        // each vertex, in edge order): linear, and two allocations whatever the graph's size.
        let n = vertices.len();
        let mut start = vec![0usize; n + 1];
        for edge in &edges {
            if edge.to < n && edge.from < n {
                start[edge.to + 1] += 1;
                start[edge.from + 1] += 1;
            }
        }
        for v in 0..n {
            start[v + 1] += start[v];
        }
        let mut ins = vec![0usize; n];
        for edge in &edges {
            if edge.to < n && edge.from < n {
                ins[edge.to] += 1;
            }
        }
        // Where each vertex's next incoming and outgoing edge goes.
        let mut next_in: Vec<usize> = start[..n].to_vec();
        let mut next_out: Vec<usize> = (0..n).map(|v| start[v] + ins[v]).collect();
        let mut by_vertex = vec![0usize; start[n]];
        for (i, edge) in edges.iter().enumerate() {
            if edge.to < n && edge.from < n {
                by_vertex[next_in[edge.to]] = i;
                next_in[edge.to] += 1;
                by_vertex[next_out[edge.from]] = i;
                next_out[edge.from] += 1;
            }
        }
        let operators = vertices
            .into_iter()
            .enumerate()
            .map(|(v, (name, role, pause))| OperatorStatus {
                name,
                role,
                state: AtomicU8::new(0),
                restarts: AtomicU64::new(0),
                started_at: AtomicU64::new(NOT_RUNNING),
                last_error: Mutex::new(None),
                stalled: AtomicBool::new(false),
                pause,
                inputs: start[v]..start[v] + ins[v],
                outputs: start[v] + ins[v]..start[v + 1],
            })
            .collect();
        GraphMonitor {
            inner: Arc::new(Inner {
                epoch,
                operators,
                edges,
                by_vertex,
                events,
                checkpoints: Mutex::new(CheckpointStatus::default()),
            }),
        }
    }

    /// The graph's checkpoints: whether it takes them, the one in flight, the latest completed
    /// (its id, time, duration and size), how many completed and were abandoned, and the
    /// checkpoint it resumed from. See [`checkpoint`](crate::checkpoint).
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::checkpoint::CheckpointConfig;
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let directory = std::env::temp_dir().join(format!("sda-status-doc-{}", std::process::id()));
    /// let mut graph = OperatorGraph::new().with_checkpoints(CheckpointConfig::new(&directory));
    /// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("out", RestartPolicy::Never, |_ctx: SinkContext<u8>| async { Ok(()) });
    /// graph.connect(&src, &out);
    /// let status = graph.build()?.monitor().checkpoints();
    /// assert!(status.enabled);
    /// assert_eq!((status.completed, status.restored_from), (0, None));
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// ```
    pub fn checkpoints(&self) -> CheckpointStatus {
        self.inner
            .checkpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn update_checkpoints(&self, update: impl FnOnce(&mut CheckpointStatus)) {
        update(
            &mut self
                .inner
                .checkpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
    }

    /// The graph's event bus: every supervisor decision and control action as a structured
    /// [`Event`](crate::events::Event), with a ring of recent ones to resume from. See
    /// [`events`](crate::events).
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::events::{EventKind, Received};
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let mut graph = OperatorGraph::new();
    /// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("out", RestartPolicy::Never, |_ctx: SinkContext<u8>| async { Ok(()) });
    /// graph.connect(&src, &out);
    /// let built = graph.build()?;
    /// let mut events = built.monitor().events().subscribe();
    /// built.controls().pause("radar")?;
    /// let Some(Received::Event(event)) = events.try_recv() else { panic!("no event") };
    /// assert_eq!(event.event, EventKind::Paused);
    /// assert_eq!(event.operator.as_deref(), Some("radar"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    pub(crate) fn operator(&self, index: usize) -> Option<&OperatorStatus> {
        self.inner.operators.get(index)
    }

    pub(crate) fn operator_count(&self) -> usize {
        self.inner.operators.len()
    }

    /// What the stall watchdog reads of the vertex at `index`: its progress so far, what waits
    /// on its input, whether its outputs hold items not taken yet, and its state.
    pub(crate) fn progress(&self, index: usize) -> Option<Progress> {
        let op = self.operator(index)?;
        let edges: &[Arc<EdgeInfo>] = &self.inner.edges;
        fn on<'a>(
            edges: &'a [Arc<EdgeInfo>],
            indices: &'a [usize],
        ) -> impl Iterator<Item = &'a Arc<EdgeInfo>> {
            indices.iter().filter_map(|&i| edges.get(i))
        }
        let on = |indices| on(edges, indices);
        let (inputs, outputs) = (self.inner.inputs(op), self.inner.outputs(op));
        let received: u64 = on(inputs).map(|e| e.received.get()).sum();
        let sent: u64 = on(outputs).map(|e| e.sent.get()).sum();
        Some(Progress {
            count: received.wrapping_add(sent),
            queued: on(inputs).map(|e| e.depth()).sum(),
            // A lossy broadcast edge never holds its producer back.
            outputs_waiting: on(outputs).any(|e| e.kind != EdgeKind::Broadcast && e.depth() > 0),
            has_inputs: !inputs.is_empty(),
            state: OperatorState::from_u8(op.state.load(Ordering::Relaxed)),
        })
    }

    /// Marks the vertex at `index` stalled or not, and sets its `operator_stalled` gauge;
    /// `true` if that changed something.
    pub(crate) fn set_stalled(&self, index: usize, stalled: bool) -> bool {
        let Some(op) = self.operator(index) else {
            return false;
        };
        let changed = op.stalled.swap(stalled, Ordering::Relaxed) != stalled;
        if changed {
            metrics::gauge!(metric_names::OPERATOR_STALLED, "operator" => op.name.to_string())
                .set(if stalled { 1.0 } else { 0.0 });
        }
        changed
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

    /// Items dropped over the whole graph, counted on the edge each was on: still queued on
    /// the input of a vertex that finished or failed for good, sent to an edge whose consumer
    /// had already finished, or taken by an incarnation that failed (returned an error,
    /// panicked or was aborted) before it finished them and did not give them back. Zero when
    /// the graph drained.
    pub fn dropped_items(&self) -> u64 {
        self.inner.edges.iter().map(|e| e.dropped.get()).sum()
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
                let stalled = op.stalled.load(Ordering::Relaxed);
                let state = match OperatorState::from_u8(op.state.load(Ordering::Relaxed)) {
                    // A paused source that runs (or has yet to start) is reported as paused; a
                    // restart backoff or a terminal state says more than the pause does.
                    OperatorState::Running | OperatorState::Pending if paused => {
                        OperatorState::Paused
                    }
                    OperatorState::Running if stalled => OperatorState::Stalled,
                    state => state,
                };
                OperatorSnapshot {
                    name: op.name.to_string(),
                    role: op.role.noun(),
                    state,
                    restarts: op.restarts.load(Ordering::Relaxed),
                    uptime_seconds: uptime,
                    received: sum(self.inner.inputs(op), |e| e.received.get()),
                    sent: sum(self.inner.outputs(op), |e| e.sent.get()),
                    dropped: sum(self.inner.inputs(op), |e| e.dropped.get()),
                    last_error: op
                        .last_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone(),
                    paused,
                    stalled,
                    throttle: op.pause.as_ref().and_then(|gate| gate.throttle()),
                    throttled_seconds: op
                        .pause
                        .as_ref()
                        .map_or(0.0, |gate| gate.throttled_seconds()),
                }
            })
            .collect();
        let wall_clock = crate::time::EventTime::now().as_unix_micros();
        let edges = edges
            .iter()
            .map(|e| EdgeSnapshot {
                name: e.name().to_owned(),
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
                watermark_unix_micros: e.watermark(),
                watermark_lag_seconds: e
                    .watermark()
                    .map(|w| wall_clock.saturating_sub(w) as f64 / 1e6),
                idle: e.idle.load(Ordering::Relaxed),
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
            metrics::gauge!(metric_names::OPERATOR_STALLED, "operator" => label.clone())
                .set(if op.stalled { 1.0 } else { 0.0 });
            if op.role == Role::Source.noun() {
                metrics::counter!(metric_names::SOURCE_THROTTLED_SECONDS_TOTAL, "operator" => label.clone())
                    .absolute(op.throttled_seconds as u64);
            }
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

/// One vertex's progress, as the stall watchdog reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Items taken from its inputs plus items put on its outputs, so far: any change is
    /// progress.
    pub(crate) count: u64,
    /// Items waiting on its inputs (taken out of the channel into the inbox's hands included
    /// until the operator receives them).
    pub(crate) queued: u64,
    /// Whether one of its (non-lossy) outputs holds items its consumer has not taken yet: it
    /// may be waiting on its downstream.
    pub(crate) outputs_waiting: bool,
    /// Whether it has inputs at all (sources have none).
    pub(crate) has_inputs: bool,
    /// Its state as the supervisor set it.
    pub(crate) state: OperatorState,
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
