//! The checkpoint coordinator: starts a checkpoint every interval (one at a time), collects an
//! acknowledgement from every vertex that takes part, writes the checkpoint, tells the sources,
//! or abandons it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use super::cell::{CapturedState, Completed, VertexCell};
use super::store::{CheckpointStore, Snapshot, VertexStates};
use super::{CheckpointConfig, CheckpointStatus};
use crate::Role;
use crate::events::{Draft, EventKind, Severity};
use crate::monitor::{GraphMonitor, OperatorState, metric_names};

/// The log target of checkpoint events.
pub(crate) const TARGET: &str = "sda_orchestrator::checkpoint";

/// One vertex's part of a checkpoint.
#[derive(Debug)]
pub(crate) enum Ack {
    /// A source's position as its barrier left it (`None` when it records none).
    Source(Option<serde_json::Value>),
    /// An operator's or sink's states, by key, as the barrier found them (serialized with the
    /// checkpoint's write, off the vertex's path).
    States(Vec<(String, CapturedState)>),
}

/// What the vertices and the coordinator share: the checkpoint in flight.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    inflight: Mutex<Option<Inflight>>,
    wake: Notify,
}

#[derive(Debug)]
struct Inflight {
    id: u64,
    /// Each vertex's acknowledgement, by index; `None` while awaited (or not expected).
    acks: Vec<Option<Ack>>,
    /// Which vertices are expected to acknowledge.
    expected: Vec<bool>,
    waiting: usize,
    declined: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<Inflight>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `vertex`'s acknowledgement of checkpoint `id`; ignored when `id` is not in
    /// flight (an abandoned checkpoint's late barrier).
    pub(crate) fn ack(&self, vertex: usize, id: u64, ack: Ack) {
        let mut inflight = self.lock();
        let Some(current) = inflight.as_mut().filter(|c| c.id == id) else {
            return;
        };
        if !current.expected.get(vertex).copied().unwrap_or(false) {
            return;
        }
        if let Some(slot) = current.acks.get_mut(vertex)
            && slot.is_none()
        {
            *slot = Some(ack);
            current.waiting -= 1;
            if current.waiting == 0 {
                self.wake.notify_one();
            }
        }
    }

    /// Records that checkpoint `id` cannot complete, and why.
    pub(crate) fn decline(&self, _vertex: usize, id: u64, reason: String) {
        let mut inflight = self.lock();
        if let Some(current) = inflight.as_mut().filter(|c| c.id == id) {
            current.declined.get_or_insert(reason);
            self.wake.notify_one();
        }
    }

    /// A vertex finished for good: the checkpoint in flight cannot complete if it was still
    /// expected to acknowledge it.
    fn finished(&self, vertex: usize, name: &str) {
        let mut inflight = self.lock();
        if let Some(current) = inflight.as_mut()
            && current.expected.get(vertex).copied().unwrap_or(false)
            && current.acks.get(vertex).is_some_and(Option::is_none)
        {
            current
                .declined
                .get_or_insert_with(|| format!("`{name}` finished before acknowledging it"));
            self.wake.notify_one();
        }
    }
}

/// A graph's checkpointing, prepared at build and started by the supervisor.
pub(crate) struct Checkpoints {
    pub(crate) config: CheckpointConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) cells: Vec<Arc<VertexCell>>,
    pub(crate) roles: Vec<Role>,
    /// Which vertices take part: those a barrier reaches (see `build`).
    pub(crate) participants: Vec<bool>,
    pub(crate) next_id: u64,
    pub(crate) fingerprint: String,
    pub(crate) store: CheckpointStore,
}

/// The running coordinator; dropping it stops it.
pub(crate) struct Running {
    task: JoinHandle<()>,
    shared: Arc<Shared>,
    cells: Vec<Arc<VertexCell>>,
}

impl Running {
    /// Tells the coordinator that vertex `index` finished for good.
    pub(crate) fn vertex_finished(&self, index: usize) {
        if let Some(cell) = self.cells.get(index) {
            self.shared.finished(index, &cell.name);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a checkpoint ended.
enum Outcome {
    Complete(Vec<Option<Ack>>),
    Abandoned(String),
}

/// One vertex's states as its barrier captured them: its index, its name, its states by key.
type CapturedStates = (usize, String, Vec<(String, CapturedState)>);

/// Serializes the states the vertices captured at the barrier (see [`CapturedState`]).
fn serialize_states(
    captured: Vec<CapturedStates>,
) -> Result<Vec<VertexStates>, super::CheckpointError> {
    captured
        .into_iter()
        .map(|(index, vertex, states)| {
            let states = states
                .into_iter()
                .map(|(key, state)| {
                    let bytes = state
                        .serialize()
                        .map_err(|e| super::CheckpointError::Decode {
                            what: format!("state `{key}` of `{vertex}`"),
                            reason: e.to_string(),
                        })?;
                    Ok((key, bytes))
                })
                .collect::<Result<_, super::CheckpointError>>()?;
            Ok((index, vertex, states))
        })
        .collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Logs one checkpoint event and publishes it on the graph's bus.
fn publish(monitor: &GraphMonitor, kind: EventKind, severity: Severity, reason: &str) {
    match severity {
        Severity::Info => {
            tracing::info!(target: TARGET, event = kind.as_str(), reason, "checkpoint: {}", kind.as_str())
        }
        Severity::Warn => {
            tracing::warn!(target: TARGET, event = kind.as_str(), reason, "checkpoint: {}", kind.as_str())
        }
        Severity::Error => {
            tracing::error!(target: TARGET, event = kind.as_str(), reason, "checkpoint: {}", kind.as_str())
        }
    }
    monitor.events().publish(Draft {
        event: kind,
        severity,
        operator: None,
        attempt: None,
        restarts_in_window: None,
        reason,
    });
}

impl Checkpoints {
    /// Starts the coordinator on the current runtime.
    pub(crate) fn start(self, monitor: GraphMonitor, shutdown: CancellationToken) -> Running {
        let shared = Arc::clone(&self.shared);
        let cells = self.cells.clone();
        let task = tokio::spawn(self.run(monitor, shutdown));
        Running {
            task,
            shared,
            cells,
        }
    }

    async fn run(mut self, monitor: GraphMonitor, shutdown: CancellationToken) {
        let interval = self.config.interval();
        let mut next = Instant::now() + interval;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = sleep_until(next) => {}
            }
            let started = Instant::now();
            if let Some(id) = self.begin(&monitor, &shutdown) {
                let outcome = self.await_acks(id, started, &shutdown).await;
                self.finish(id, started, outcome, &monitor).await;
            }
            // At most one in flight; the next starts an interval after this one started, or at
            // once if this one took longer.
            next = (started + interval).max(Instant::now());
        }
    }

    /// Starts the next checkpoint, unless the graph cannot take one now (shutting down, a
    /// source finished, a vertex failed): then `None`.
    fn begin(&mut self, monitor: &GraphMonitor, shutdown: &CancellationToken) -> Option<u64> {
        if shutdown.is_cancelled() {
            return None;
        }
        let snapshot = monitor.snapshot();
        let mut expected = vec![false; self.cells.len()];
        let mut acks: Vec<Option<Ack>> = (0..self.cells.len()).map(|_| None).collect();
        for (index, op) in snapshot.operators.iter().enumerate() {
            if !self.participants.get(index).copied().unwrap_or(false) {
                continue;
            }
            let gone = matches!(op.state, OperatorState::Failed | OperatorState::Aborted);
            let finished = op.state == OperatorState::Finished;
            let is_source = self.roles.get(index) == Some(&Role::Source);
            if gone || (finished && is_source) {
                // A checkpoint needs a barrier from every source, and a graph with a failed
                // vertex is going down.
                tracing::debug!(target: TARGET, operator = %op.name, "no checkpoint: `{}` is {:?}", op.name, op.state);
                return None;
            }
            if finished {
                // Finished for good: its state is final, and it is taken as it is.
                acks[index] = Some(self.cells[index].state_ack());
            } else {
                expected[index] = true;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let waiting = expected.iter().filter(|e| **e).count();
        *self.shared.lock() = Some(Inflight {
            id,
            acks,
            expected,
            waiting,
            declined: None,
        });
        monitor.update_checkpoints(|status| status.in_flight = Some(id));
        publish(
            monitor,
            EventKind::CheckpointStarted,
            Severity::Info,
            &format!("checkpoint {id} started"),
        );
        // Barriers go out only once the checkpoint is in flight: an idle source acknowledges
        // at once, from here.
        for (index, cell) in self.cells.iter().enumerate() {
            if self.roles.get(index) == Some(&Role::Source) {
                cell.request_barrier(id);
            }
        }
        if waiting == 0 {
            self.shared.wake.notify_one();
        }
        Some(id)
    }

    /// Waits until every expected vertex acknowledged checkpoint `id`, one declined it, its
    /// timeout passed or shutdown began.
    async fn await_acks(&self, id: u64, started: Instant, shutdown: &CancellationToken) -> Outcome {
        let deadline = started + self.config.timeout();
        loop {
            {
                let mut inflight = self.shared.lock();
                if let Some(current) = inflight.as_mut().filter(|c| c.id == id) {
                    if let Some(reason) = current.declined.take() {
                        *inflight = None;
                        return Outcome::Abandoned(reason);
                    }
                    if current.waiting == 0 {
                        let acks = std::mem::take(&mut current.acks);
                        *inflight = None;
                        return Outcome::Complete(acks);
                    }
                }
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    *self.shared.lock() = None;
                    return Outcome::Abandoned("shutdown began".into());
                }
                () = self.shared.wake.notified() => {}
                () = sleep_until(deadline) => {
                    let missing = self.missing(id);
                    *self.shared.lock() = None;
                    return Outcome::Abandoned(format!(
                        "timed out after {:?} waiting for {missing}",
                        self.config.timeout()
                    ));
                }
            }
        }
    }

    /// The vertices that have not acknowledged checkpoint `id`, named.
    fn missing(&self, id: u64) -> String {
        let inflight = self.shared.lock();
        let Some(current) = inflight.as_ref().filter(|c| c.id == id) else {
            return String::new();
        };
        let names: Vec<String> = current
            .acks
            .iter()
            .enumerate()
            .filter(|(i, a)| a.is_none() && current.expected.get(*i).copied().unwrap_or(false))
            .map(|(i, _)| format!("`{}`", self.cells[i].name))
            .collect();
        names.join(", ")
    }

    /// Writes a completed checkpoint and tells the sources, or records an abandoned one.
    async fn finish(&self, id: u64, started: Instant, outcome: Outcome, monitor: &GraphMonitor) {
        let acks = match outcome {
            Outcome::Complete(acks) => acks,
            Outcome::Abandoned(reason) => return self.abandon(id, &reason, monitor),
        };
        let now = unix_ms();
        let elapsed = started.elapsed();
        let mut positions = BTreeMap::new();
        let mut states = Vec::new();
        for (index, ack) in acks.into_iter().enumerate() {
            let name = self.cells[index].name.to_string();
            match ack {
                Some(Ack::Source(position)) => {
                    positions.insert(name, position);
                }
                Some(Ack::States(entries)) if !entries.is_empty() => {
                    states.push((index, name, entries));
                }
                _ => {}
            }
        }
        let started_unix_ms = now.saturating_sub(u64::try_from(elapsed.as_millis()).unwrap_or(0));
        let fingerprint = self.fingerprint.clone();
        let store = self.store.clone();
        let keep = self.config.keep();
        // Serialization and file I/O run on the blocking pool, bounded by what is left of the
        // timeout. A write that finishes after that leaves a complete, consistent checkpoint
        // that resuming may use; it is still counted as abandoned here.
        let deadline = started + self.config.timeout();
        let written = timeout_at(
            deadline,
            tokio::task::spawn_blocking(move || {
                let snapshot = Snapshot {
                    id,
                    started_unix_ms,
                    completed_unix_ms: now,
                    fingerprint,
                    positions,
                    states: serialize_states(states)?,
                };
                let size = store.write(&snapshot)?;
                if let Err(error) = store.prune(keep, snapshot.id) {
                    tracing::warn!(target: TARGET, %error, "old checkpoints could not be removed");
                }
                Ok::<_, super::CheckpointError>((size, snapshot))
            }),
        )
        .await;
        let (size, snapshot) = match written {
            Ok(Ok(Ok(done))) => done,
            Ok(Ok(Err(error))) => {
                return self.abandon(id, &format!("writing it failed: {error}"), monitor);
            }
            Ok(Err(join)) => {
                return self.abandon(id, &format!("writing it failed: {join}"), monitor);
            }
            Err(_) => {
                return self.abandon(id, "writing it did not finish before its timeout", monitor);
            }
        };
        let duration = started.elapsed();
        // Sources learn of it last: what they acknowledge upstream is on disk.
        for (index, cell) in self.cells.iter().enumerate() {
            if self.roles.get(index) != Some(&Role::Source) {
                continue;
            }
            if let Some(source) = &cell.source {
                source.completed.send_replace(Some(Arc::new(Completed {
                    id,
                    position: snapshot.positions.get(&*cell.name).cloned().flatten(),
                })));
            }
        }
        monitor.update_checkpoints(|status| {
            status.in_flight = None;
            status.last_completed = Some(id);
            status.last_completed_unix_ms = Some(snapshot.completed_unix_ms);
            status.last_duration_seconds = Some(duration.as_secs_f64());
            status.last_size_bytes = Some(size);
            status.completed += 1;
        });
        metrics::histogram!(metric_names::CHECKPOINT_DURATION_SECONDS)
            .record(duration.as_secs_f64());
        metrics::gauge!(metric_names::CHECKPOINT_SIZE_BYTES).set(size as f64);
        metrics::counter!(metric_names::CHECKPOINTS_COMPLETED_TOTAL).increment(1);
        publish(
            monitor,
            EventKind::CheckpointCompleted,
            Severity::Info,
            &format!(
                "checkpoint {id} completed in {:.3} s, {size} bytes",
                duration.as_secs_f64()
            ),
        );
    }

    fn abandon(&self, id: u64, reason: &str, monitor: &GraphMonitor) {
        monitor.update_checkpoints(|status: &mut CheckpointStatus| {
            status.in_flight = None;
            status.abandoned += 1;
            status.last_abandoned_reason = Some(reason.to_owned());
        });
        metrics::counter!(metric_names::CHECKPOINTS_ABANDONED_TOTAL).increment(1);
        publish(
            monitor,
            EventKind::CheckpointAbandoned,
            Severity::Warn,
            &format!("checkpoint {id} abandoned: {reason}"),
        );
    }
}
