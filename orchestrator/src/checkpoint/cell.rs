//! What one vertex keeps for checkpoints and event time across its incarnations: its registered
//! states, a source's position and barrier protocol, marker handles on its outgoing edges, and
//! the way to acknowledge a checkpoint to the coordinator.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::coordinator::{Ack, Shared};
use super::{CheckpointError, State};
use crate::channel::{MarkOutputs, Marks, NO_WATERMARK};

/// A poisoned lock here still holds a consistent value: nothing panics half-way through an
/// update of these cells (user serialisation runs outside them, or on values it cannot break).
fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One vertex's checkpoint and event-time state, shared by its incarnations, its inbox and
/// outbox, and the coordinator.
pub(crate) struct VertexCell {
    pub(crate) index: usize,
    pub(crate) name: Arc<str>,
    /// Marker handles on the vertex's outgoing edges, made with its first incarnation.
    outputs: OnceLock<Box<dyn MarkOutputs>>,
    registry: Mutex<Registry>,
    /// The latest watermark put on the outgoing edges.
    out_watermark: AtomicI64,
    /// Set once the vertex advances a watermark of its own: its inbox stops forwarding.
    handles_time: AtomicBool,
    /// A source's position and barrier protocol; `None` for operators and sinks.
    pub(crate) source: Option<SourceCell>,
    /// The coordinator, when the graph takes checkpoints.
    pub(crate) checkpoints: Option<Arc<Shared>>,
    /// How long an incoming edge may say nothing before it is left out of the watermark.
    pub(crate) idle_timeout: Option<Duration>,
}

impl std::fmt::Debug for VertexCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VertexCell")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The states a vertex registered, and those restored from a checkpoint that it has not
/// registered yet (carried into the next checkpoint unchanged).
#[derive(Default)]
struct Registry {
    entries: Vec<(String, Arc<dyn ErasedState>)>,
    restored: BTreeMap<String, Vec<u8>>,
}

/// A registered state with its type erased: what a snapshot needs.
pub(crate) trait ErasedState: Send + Sync {
    /// A copy of the state's value, to be serialized later.
    fn capture(&self) -> CapturedState;
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// A state's value as a barrier found it, serialized (as JSON) when the checkpoint is written.
///
/// A barrier is aligned at a vertex while the vertex waits for it, so whatever is done there
/// holds the vertex — and, at saturation, everything upstream of it. The vertex only copies its
/// states there (a clone, no encoding) and the serialization runs with the write, on the
/// blocking pool: Flink's asynchronous snapshots, with a clone in place of copy-on-write.
pub(crate) struct CapturedState(Box<dyn FnOnce() -> Result<Vec<u8>, serde_json::Error> + Send>);

impl CapturedState {
    /// Bytes already serialized (a restored state the vertex has not registered).
    fn ready(bytes: Vec<u8>) -> Self {
        CapturedState(Box::new(move || Ok(bytes)))
    }

    /// Serializes the captured value.
    pub(crate) fn serialize(self) -> Result<Vec<u8>, serde_json::Error> {
        (self.0)()
    }
}

impl std::fmt::Debug for CapturedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CapturedState")
    }
}

/// What a registered state holds; shared by every [`State`] handle on it.
pub(crate) struct StateCell<S> {
    pub(crate) value: Mutex<S>,
}

impl<S: Serialize + Clone + Send + 'static> ErasedState for StateCell<S> {
    fn capture(&self) -> CapturedState {
        let value = lock(&self.value).clone();
        CapturedState(Box::new(move || serde_json::to_vec(&value)))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Restored checkpoint data for one vertex, installed at build.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    pub(crate) states: BTreeMap<String, Vec<u8>>,
    pub(crate) position: Option<serde_json::Value>,
    /// The restored checkpoint, reported to the source as completed.
    pub(crate) completed: Option<u64>,
}

impl VertexCell {
    pub(crate) fn new(
        index: usize,
        name: Arc<str>,
        is_source: bool,
        checkpoints: Option<Arc<Shared>>,
        idle_timeout: Option<Duration>,
        restored: Restored,
    ) -> Self {
        let source = is_source.then(|| {
            let completed = restored.completed.map(|id| {
                Arc::new(Completed {
                    id,
                    position: restored.position.clone(),
                })
            });
            SourceCell {
                state: AtomicUsize::new(0),
                inner: Mutex::new(SourceInner {
                    pending: 0,
                    position: None,
                    restored: restored.position,
                }),
                completed: watch::Sender::new(completed),
            }
        });
        VertexCell {
            index,
            name,
            outputs: OnceLock::new(),
            registry: Mutex::new(Registry {
                entries: Vec::new(),
                restored: restored.states,
            }),
            out_watermark: AtomicI64::new(NO_WATERMARK),
            handles_time: AtomicBool::new(false),
            source,
            checkpoints,
            idle_timeout,
        }
    }

    /// Installs the marker handles on the outgoing edges (once; later calls do nothing).
    pub(crate) fn set_outputs(&self, make: impl FnOnce() -> Box<dyn MarkOutputs>) {
        self.outputs.get_or_init(make);
    }

    /// Pushes markers onto every outgoing edge that carries them.
    pub(crate) fn push(&self, marks: Marks) {
        if let Some(outputs) = self.outputs.get() {
            outputs.push(marks);
        }
    }

    /// The vertex advances its own watermark: from now on its inbox does not forward its input
    /// watermark. Returns whether the watermark moved.
    pub(crate) fn advance_watermark(&self, micros: i64) -> bool {
        self.take_over_watermark();
        self.forward_watermark(micros)
    }

    /// From now on the vertex's inbox does not forward its input watermark.
    pub(crate) fn take_over_watermark(&self) {
        if !self.handles_time.load(Ordering::Relaxed) {
            self.handles_time.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the vertex advances its own watermark.
    pub(crate) fn handles_time(&self) -> bool {
        self.handles_time.load(Ordering::Relaxed)
    }

    /// Puts `micros` on the outgoing edges if it is later than the last watermark put there.
    pub(crate) fn forward_watermark(&self, micros: i64) -> bool {
        if micros == NO_WATERMARK
            || self.out_watermark.fetch_max(micros, Ordering::AcqRel) >= micros
        {
            return false;
        }
        self.push(Marks::watermark(micros));
        true
    }

    /// The handle on the state registered under `key`, registering it (from the restored
    /// checkpoint, or `S::default()`) if this is the first time.
    pub(crate) fn state<S>(&self, key: &str) -> Result<State<S>, CheckpointError>
    where
        S: Serialize + DeserializeOwned + Default + Clone + Send + 'static,
    {
        let mut registry = lock(&self.registry);
        if let Some((_, cell)) = registry.entries.iter().find(|(k, _)| k == key) {
            return Arc::clone(cell)
                .as_any()
                .downcast::<StateCell<S>>()
                .map(State::new)
                .map_err(|_| CheckpointError::StateType {
                    vertex: self.name.to_string(),
                    key: key.to_owned(),
                });
        }
        let value = match registry.restored.get(key) {
            Some(bytes) => {
                serde_json::from_slice::<S>(bytes).map_err(|e| CheckpointError::Decode {
                    what: format!("state `{key}` of `{}`", self.name),
                    reason: e.to_string(),
                })?
            }
            None => S::default(),
        };
        registry.restored.remove(key);
        let cell = Arc::new(StateCell {
            value: Mutex::new(value),
        });
        registry
            .entries
            .push((key.to_owned(), Arc::clone(&cell) as Arc<dyn ErasedState>));
        Ok(State::new(cell))
    }

    /// Captures every registered state (see [`CapturedState`]), and carries restored states
    /// not registered yet.
    pub(crate) fn snapshot_states(&self) -> Vec<(String, CapturedState)> {
        // The entries are cloned out so that the copies are not made under the registry's lock.
        let (entries, restored) = {
            let registry = lock(&self.registry);
            (registry.entries.clone(), registry.restored.clone())
        };
        let mut out: Vec<(String, CapturedState)> =
            Vec::with_capacity(entries.len() + restored.len());
        for (key, cell) in entries {
            out.push((key, cell.capture()));
        }
        out.extend(
            restored
                .into_iter()
                .map(|(key, bytes)| (key, CapturedState::ready(bytes))),
        );
        out
    }

    /// Acknowledges checkpoint `id` with this vertex's part of it.
    pub(crate) fn ack(&self, id: u64, ack: Ack) {
        if let Some(shared) = &self.checkpoints {
            shared.ack(self.index, id, ack);
        }
    }

    /// Says that checkpoint `id` cannot complete, and why.
    pub(crate) fn decline(&self, id: u64, reason: String) {
        if let Some(shared) = &self.checkpoints {
            shared.decline(self.index, id, reason);
        }
    }

    /// The snapshot of this vertex's states as an acknowledgement.
    pub(crate) fn state_ack(&self) -> Ack {
        Ack::States(self.snapshot_states())
    }
}

// ---------------------------------------------------------------------------------------------
// Sources: position and barriers.

/// A barrier has been requested and not emitted yet.
const PENDING: usize = 1;
/// One send in progress (the count is kept above the flag bit).
const SENDER: usize = 2;

/// A source's side of checkpoints: the position of what it has sent, and the protocol that puts
/// a requested barrier between two sends, never inside one.
///
/// `state` holds the number of sends in progress and a flag for a pending barrier, so that a
/// send costs two atomic operations when no barrier is pending. A barrier is emitted by whoever
/// sees it pending with no send in progress: the coordinator when it requests it, or the send
/// that ends last; a send that starts while one is pending emits it first (or, when another
/// thread is emitting it, waits for the lock: the flag stays up until the barrier is on the
/// edges). (A send counts
/// itself in only while it may have items on an edge: one that waits for room on a lone plain
/// edge with nothing sent yet waits counted out, see `Outbox::send_item_counted`.) The emission and the
/// position it records happen under `inner`'s lock, where `send_at` also records the position
/// of what it sent before it counts itself out: so the recorded position covers exactly the
/// items before the barrier.
pub(crate) struct SourceCell {
    state: AtomicUsize,
    inner: Mutex<SourceInner>,
    /// The latest completed checkpoint, for the source (see `CompletedCheckpoints`).
    pub(crate) completed: watch::Sender<Option<Arc<Completed>>>,
}

struct SourceInner {
    /// The barrier requested and not emitted yet (0: none).
    pending: u64,
    /// The position of the last item sent in this process.
    position: Option<Box<dyn ErasedPosition>>,
    /// The position restored from a checkpoint, until the source records one.
    restored: Option<serde_json::Value>,
}

/// A completed checkpoint as a source learns of it.
#[derive(Debug)]
pub(crate) struct Completed {
    pub(crate) id: u64,
    pub(crate) position: Option<serde_json::Value>,
}

/// A position with its type erased.
trait ErasedPosition: Send {
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<P: Serialize + Send + 'static> ErasedPosition for P {
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl SourceInner {
    fn set<P: Serialize + Send + 'static>(&mut self, position: P) {
        match self
            .position
            .as_mut()
            .and_then(|p| p.as_any_mut().downcast_mut::<P>())
        {
            // The common case, a position of the same type: no allocation.
            Some(slot) => *slot = position,
            None => self.position = Some(Box::new(position)),
        }
    }

    fn json(&self) -> Result<Option<serde_json::Value>, serde_json::Error> {
        match &self.position {
            Some(position) => position.to_json().map(Some),
            None => Ok(self.restored.clone()),
        }
    }
}

/// A send in progress on a checkpointed source; counts itself out when dropped (a cancelled
/// send included).
pub(crate) struct SendGuard<'a> {
    cell: &'a VertexCell,
    source: &'a SourceCell,
    done: bool,
}

impl VertexCell {
    /// Counts a send in; emits a pending barrier first.
    pub(crate) fn enter_send(&self) -> Option<SendGuard<'_>> {
        let source = self.source.as_ref()?;
        let before = source.state.fetch_add(SENDER, Ordering::AcqRel);
        if before & PENDING != 0 {
            let mut inner = lock(&source.inner);
            self.emit_pending(source, &mut inner);
        }
        Some(SendGuard {
            cell: self,
            source,
            done: false,
        })
    }

    /// Requests barrier `id` from this source; emitted now if no send is in progress.
    pub(crate) fn request_barrier(&self, id: u64) {
        let Some(source) = &self.source else {
            return;
        };
        let mut inner = lock(&source.inner);
        inner.pending = id;
        let before = source.state.fetch_or(PENDING, Ordering::AcqRel);
        if before < SENDER {
            self.emit_pending(source, &mut inner);
        }
    }

    /// Records the source's position outside a send (see `Outbox::set_position`).
    pub(crate) fn set_position<P: Serialize + Send + 'static>(&self, position: P) {
        if let Some(source) = &self.source {
            lock(&source.inner).set(position);
        }
    }

    /// The source's position as JSON: the last recorded in this process, else the restored one.
    pub(crate) fn position_json(&self) -> Result<Option<serde_json::Value>, CheckpointError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        lock(&source.inner)
            .json()
            .map_err(|e| CheckpointError::Decode {
                what: format!("position of `{}`", self.name),
                reason: e.to_string(),
            })
    }

    /// Emits the pending barrier, if still pending, with the position recorded now. Under the
    /// source's lock.
    fn emit_pending(&self, source: &SourceCell, inner: &mut SourceInner) {
        let id = std::mem::take(&mut inner.pending);
        if id != 0 {
            let position = inner.json();
            self.push(Marks::barrier(id));
            match position {
                Ok(position) => self.ack(id, Ack::Source(position)),
                Err(e) => self.decline(
                    id,
                    format!("the position of `{}` did not serialize: {e}", self.name),
                ),
            }
        }
        // Cleared only now that the barrier is on the edges: a send that starts meanwhile sees
        // the flag, waits for the lock held here and puts its item behind the barrier. Cleared
        // before the push, such a send (on another thread) could put its item on the edge
        // ahead of the barrier whose position does not cover it.
        source.state.fetch_and(!PENDING, Ordering::AcqRel);
    }
}

impl SendGuard<'_> {
    /// Counts the send out, recording `position` as that of everything sent so far.
    pub(crate) fn finish_at<P: Serialize + Send + 'static>(mut self, position: P) {
        self.done = true;
        let mut inner = lock(&self.source.inner);
        inner.set(position);
        let before = self.source.state.fetch_sub(SENDER, Ordering::AcqRel);
        if before & PENDING != 0 && before < 2 * SENDER {
            self.cell.emit_pending(self.source, &mut inner);
        }
    }
}

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let before = self.source.state.fetch_sub(SENDER, Ordering::AcqRel);
        if before & PENDING != 0 && before < 2 * SENDER {
            let mut inner = lock(&self.source.inner);
            self.cell.emit_pending(self.source, &mut inner);
        }
    }
}
