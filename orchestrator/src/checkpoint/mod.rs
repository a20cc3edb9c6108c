//! Checkpoints: consistent snapshots of a running graph (every source's position, every
//! operator's and sink's state), taken with aligned barriers while the graph runs, written
//! durably, and used to resume the graph after a crash.
//!
//! # The one mechanism, and why
//!
//! Two things rest on this module: crash-safe operator state (restored after `kill -9`), and
//! sources over a replayable log (a durable stream, a file, a simulator) that acknowledge an
//! entry to the log only once every sink that must hold it has written it. Both are served by
//! one mechanism, **aligned checkpoint barriers** (Chandy–Lamport, as Flink does it):
//!
//! 1. Every [`interval`](CheckpointConfig::with_interval) the coordinator starts checkpoint `k` (one
//!    at a time) by asking every source for barrier `k`. A source emits it between two sends,
//!    never inside one, recording its position as of everything sent before it (see
//!    [`Outbox::send_at`](crate::Outbox::send_at)); a source that is not sending gets its
//!    barrier emitted for it at once, so an idle source never holds a checkpoint up, and so
//!    does a source whose send waits for room on its only edge with nothing of it sent yet
//!    (the barrier goes ahead of that send), so backpressure does not hold one up either.
//! 2. The barrier travels on every outgoing edge, in order with the items, taking no room.
//! 3. An inbox that receives barrier `k` on one incoming edge stops reading that edge until
//!    `k` has arrived on every other live incoming edge (**alignment**); when it has, and the
//!    operator comes back for more (so it has finished every item from before the barrier),
//!    the inbox snapshots the operator's registered [`State`], forwards barrier `k` on the
//!    operator's outgoing edges and reads every edge again. Operators need no code for this.
//! 4. A sink acknowledges the barrier the same way, or, if it writes durable output, takes it
//!    explicitly ([`Inbox::recv_event`](crate::Inbox::recv_event)) and
//!    [`commit`s](CheckpointToken::commit) once what it wrote before the barrier is on disk.
//! 5. Once every vertex has acknowledged, the checkpoint is written (states, then a manifest
//!    that marks it complete, all `fsync`ed) and every source is told
//!    ([`SourceContext::completed_checkpoints`](crate::SourceContext::completed_checkpoints))
//!    with the position it recorded: everything before that position is now reflected in
//!    every state and written by every committing sink, so a source over a durable log
//!    acknowledges the log up to there.
//!
//! Per-item acknowledgement tokens (each item carrying an ack that the last sink to write it
//! fires) would give the second feature but not the first: operator state would still need a
//! consistent snapshot, that is a second mechanism with its own ordering and failure cases. A
//! barrier gives both at once: the cut it makes is consistent for states and positions alike,
//! and its cost is per checkpoint, not per item.
//!
//! # The guarantee
//!
//! * **At-least-once into the sinks.** After a crash the graph resumes from the latest complete
//!   checkpoint: states as they were at the barrier, sources from their recorded positions. A
//!   source that replays from its position sends again what came after it; nothing before it
//!   is lost, because a checkpoint completes only once every committing sink has written
//!   everything before its barrier.
//! * **Exactly-once output** where the sink is idempotent by record id (a replayed record
//!   overwrites itself), or commits its output with the checkpoint: states are restored to the
//!   cut and the replay recomputes the same records.
//! * **Exactly-once state**, for state kept in [`State`] handles: a restored state reflects
//!   exactly the items before the barrier, and the replay exactly the items after it, when the
//!   source records its position with `send_at` (the position then moves with the send, under
//!   the same lock as the barrier).
//!
//! A sink that only uses `recv` acknowledges at alignment and makes no durability claim: what
//! it wrote may not be on disk when the checkpoint completes. A source that records no
//! position (a UDP socket) cannot replay: what was in flight at a crash is lost, at most once.
//!
//! # Where the barrier goes, edge by edge
//!
//! * **Plain edges**: in order with the items.
//! * **Priority edges**: into both lanes, behind everything queued in each; the edge counts as
//!   aligned once both lanes have delivered it. While the inbox aligns, an emergency sent after
//!   the barrier waits until the routine items sent before it are taken.
//! * **Filtered edges**: always (a filter decides on items, not markers).
//! * **Fan-out**: on every outgoing edge.
//! * **Lossy broadcast edges**: never. Their consumer is not aligned on them, and a vertex that
//!   only broadcast edges reach takes no part in checkpoints (its state is not in them).
//! * **Restarts**: a barrier queued on an edge stays queued like an item, and an inbox that was
//!   aligning when its operator failed goes on aligning in the next incarnation.
//!
//! # Limits
//!
//! * A send that puts items on an edge and then waits (a batch larger than its edge, sent in
//!   pieces; a fan-out waiting for one of its edges) holds its source's barrier until it ends:
//!   a source that may fall behind its input sends in batches no larger than its edge, or a
//!   barrier waits for its whole backlog.
//! * A checkpoint is taken only while every source runs: once one has finished for good (or
//!   shutdown has begun), no new checkpoint starts, and one in flight is abandoned when a vertex
//!   that has not acknowledged it finishes.
//! * State is what is in [`State`] handles: anything an operator keeps elsewhere (a local
//!   buffer) is not in a checkpoint.
//! * One graph per directory.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use sda_orchestrator::checkpoint::{CheckpointConfig, CheckpointStore};
//! use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
//! #     .unwrap().block_on(async {
//! let directory = std::env::temp_dir().join(format!("sda-ckpt-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&directory);
//! let mut graph = OperatorGraph::new().with_checkpoints(
//!     CheckpointConfig::new(&directory).with_interval(Duration::from_millis(100)),
//! );
//! let numbers = graph.add_source("numbers", RestartPolicy::default(), |mut ctx| async move {
//!     // Resume after the last number a completed checkpoint covers.
//!     let mut next: u64 = ctx.restored_position()?.unwrap_or(0);
//!     while next < 50 {
//!         ctx.output.send_at(next, next + 1).await?; // the position moves with the send
//!         next += 1;
//!         tokio::time::sleep(Duration::from_millis(10)).await;
//!     }
//!     ctx.shutdown.cancelled().await;
//!     Ok(())
//! });
//! let total = graph.add_sink("total", RestartPolicy::default(), |mut ctx| async move {
//!     let sum = ctx.state::<u64>()?; // restored after a crash, kept across restarts
//!     while let Some(n) = ctx.input.recv().await {
//!         *sum.lock() += n;
//!     }
//!     Ok(())
//! });
//! graph.connect(&numbers, &total);
//! let built = graph.build()?;
//! let (stop, monitor) = (built.shutdown_handle(), built.monitor());
//! let running = tokio::spawn(built.run(SupervisorPolicy::default()));
//! tokio::time::sleep(Duration::from_millis(700)).await;
//! stop.shutdown();
//! assert!(running.await?.is_clean());
//!
//! assert!(monitor.checkpoints().completed >= 5);
//! let latest = CheckpointStore::new(&directory).latest()?.expect("a checkpoint");
//! let position: u64 = latest.position("numbers")?.expect("a position");
//! // The sink's state covers exactly the numbers before the source's position.
//! assert_eq!(latest.state::<u64>("total")?, Some((0..position).sum()));
//! # std::fs::remove_dir_all(&directory)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod cell;
pub(crate) mod coordinator;
mod store;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub(crate) use cell::{Restored, SendGuard, VertexCell};
pub(crate) use coordinator::{Checkpoints, Running};
pub use store::{CheckpointStore, StoredCheckpoint};

use cell::{Completed, StateCell};
use coordinator::Ack;

/// The key of the state [`OperatorContext::state`](crate::OperatorContext::state) registers.
pub const DEFAULT_STATE_KEY: &str = "state";

/// How a graph takes checkpoints: how often, where, how many it keeps, and how long one may
/// take. Given to [`OperatorGraph::with_checkpoints`](crate::OperatorGraph::with_checkpoints).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::checkpoint::CheckpointConfig;
///
/// let config = CheckpointConfig::new("/var/lib/ingest/checkpoints")
///     .with_interval(Duration::from_secs(5))
///     .with_keep(2)
///     .with_timeout(Duration::from_secs(30));
/// assert_eq!(config.interval(), Duration::from_secs(5));
/// assert_eq!(config.keep(), 2);
/// assert_eq!(CheckpointConfig::new("x").timeout(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    interval: Duration,
    directory: PathBuf,
    keep: usize,
    timeout: Duration,
}

impl CheckpointConfig {
    /// Checkpoints in `directory`, every 10 s, keeping the last 3, each abandoned if it has not
    /// completed 60 s after it started.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        CheckpointConfig {
            interval: Duration::from_secs(10),
            directory: directory.into(),
            keep: 3,
            timeout: Duration::from_secs(60),
        }
    }

    /// How often a checkpoint starts (at least 1 ms). One that takes longer delays the next:
    /// at most one is in flight.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many complete checkpoints are kept (at least 1); older ones are removed once a new
    /// one completes.
    pub fn with_keep(mut self, keep: usize) -> Self {
        self.keep = keep.max(1);
        self
    }

    /// How long a checkpoint may take, writing included, before it is abandoned (logged,
    /// counted, and the next one starts on schedule).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The checkpoint interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How many complete checkpoints are kept.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// The checkpoint timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Why a checkpoint operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A file or directory of the checkpoint directory could not be read or written.
    #[error("checkpoint i/o failed on `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file is not what the graph writes (or was damaged).
    #[error("checkpoint file `{path}` is not valid: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A restored state or position does not deserialize as the type asked for (or a value
    /// does not serialize).
    #[error("{what} does not convert to or from the requested type: {reason}")]
    Decode {
        /// Which state or position.
        what: String,
        /// What `serde_json` said.
        reason: String,
    },
    /// A state key is already registered by the vertex with another type.
    #[error("state `{key}` of `{vertex}` is already registered with another type")]
    StateType {
        /// The vertex.
        vertex: String,
        /// The state's key.
        key: String,
    },
    /// The graph the handle belongs to is gone.
    #[error("the graph is gone")]
    Closed,
}

/// A vertex's state: a value of type `S` that survives restarts and is part of every
/// checkpoint. Cheap to clone; every clone is the same value.
///
/// Take it with [`OperatorContext::state`](crate::OperatorContext::state) (or
/// [`SinkContext::state`](crate::SinkContext::state)). Every incarnation of the vertex gets the
/// same value, so state kept here survives an in-process restart without any code; a graph
/// that resumes from a checkpoint starts it from the value recorded there (else from
/// `S::default()`). When a checkpoint's barrier is aligned at the vertex, while the operator is
/// between items, the value is cloned; the clone is serialized with `serde_json` as the
/// checkpoint is written, on the blocking pool. The vertex is held only for the copy, not for
/// the encoding.
///
/// Lock it briefly, between receives: the inbox locks it to take its copy, so a task that
/// holds the lock while it waits for its own input would wait for itself. (The guard is not
/// `Send`, so holding it across an `.await` in a vertex's future does not compile.)
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorContext, OperatorFactory};
///
/// fn counter() -> impl OperatorFactory<u64, u64> {
///     |mut ctx: OperatorContext<u64, u64>| async move {
///         let seen = ctx.state::<u64>()?;
///         while let Some(n) = ctx.input.recv().await {
///             let count = {
///                 let mut seen = seen.lock();
///                 *seen += 1;
///                 *seen
///             };
///             ctx.output.send(n * count).await?;
///         }
///         Ok(())
///     }
/// }
/// # let _ = counter();
/// ```
pub struct State<S> {
    cell: Arc<StateCell<S>>,
}

impl<S> Clone for State<S> {
    fn clone(&self) -> Self {
        State {
            cell: Arc::clone(&self.cell),
        }
    }
}

impl<S> std::fmt::Debug for State<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl<S> State<S> {
    fn new(cell: Arc<StateCell<S>>) -> Self {
        State { cell }
    }

    /// Locks the value for reading or changing it.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        // Nothing in the library panics while holding it; a user panic leaves the value as
        // the user left it, which is what a restart would see anyway.
        self.cell.value.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the value, under the lock, and returns what it returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.lock())
    }

    /// A copy of the value.
    pub fn get(&self) -> S
    where
        S: Clone,
    {
        self.lock().clone()
    }
}

/// A checkpoint barrier handed to a vertex that takes barriers explicitly
/// ([`Inbox::recv_event`](crate::Inbox::recv_event)): the checkpoint completes only once it is
/// committed.
///
/// When the token is handed out, the vertex has finished every item from before the barrier
/// (it came back for more), its [`State`]s have been snapshotted, and the barrier has gone on
/// downstream. A sink that writes durable output flushes (and `fsync`s) what it wrote before
/// the barrier, then calls [`commit`](CheckpointToken::commit): so a completed checkpoint means
/// that output is on disk. It may receive items after the barrier before it commits; they only
/// make the output more complete. Dropping the token without committing abandons the
/// checkpoint at once (the sink could not flush, or failed).
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{InputEvent, SinkContext, SinkFactory};
///
/// fn durable_sink() -> impl SinkFactory<String> {
///     |mut ctx: SinkContext<String>| async move {
///         let mut buffered = Vec::new();
///         while let Some(event) = ctx.input.recv_event().await {
///             match event {
///                 InputEvent::Item(line) => buffered.push(line),
///                 InputEvent::Checkpoint(token) => {
///                     // Write and fsync `buffered` here; then:
///                     buffered.clear();
///                     token.commit();
///                 }
///                 InputEvent::Watermark(_) => {}
///             }
///         }
///         Ok(())
///     }
/// }
/// # let _ = durable_sink();
/// ```
#[must_use = "a checkpoint completes only once its token is committed; dropping it abandons it"]
pub struct CheckpointToken {
    id: u64,
    pending: Option<(Arc<VertexCell>, Ack)>,
}

impl std::fmt::Debug for CheckpointToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CheckpointToken {
    pub(crate) fn new(id: u64, cell: Arc<VertexCell>, ack: Ack) -> Self {
        CheckpointToken {
            id,
            pending: Some((cell, ack)),
        }
    }

    /// The checkpoint's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Says that everything before the barrier has been handled durably: this vertex's part of
    /// the checkpoint is done.
    pub fn commit(mut self) {
        if let Some((cell, ack)) = self.pending.take() {
            cell.ack(self.id, ack);
        }
    }
}

impl Drop for CheckpointToken {
    fn drop(&mut self) {
        if let Some((cell, _)) = self.pending.take() {
            cell.decline(
                self.id,
                format!(
                    "`{}` dropped its checkpoint token without committing it",
                    cell.name
                ),
            );
        }
    }
}

/// A completed checkpoint, as a source learns of it: its id and the position the source had
/// recorded when its barrier left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckpoint<P> {
    /// The checkpoint's id.
    pub id: u64,
    /// The source's position in it: every item the source sent before it is reflected in
    /// every state and written by every committing sink. `None` when the source recorded none.
    pub position: Option<P>,
}

/// The completed checkpoints of one source, newest first come: what a source over a durable
/// log acknowledges upstream. From
/// [`SourceContext::completed_checkpoints`](crate::SourceContext::completed_checkpoints).
///
/// Only the latest completed checkpoint matters to a source (acknowledging up to a position
/// covers every earlier one), so a source that is busy sees the latest when it looks, not every
/// one in between: nothing queues up. A graph resumed from a checkpoint reports that checkpoint
/// first.
pub struct CompletedCheckpoints<P> {
    rx: watch::Receiver<Option<Arc<Completed>>>,
    seen: u64,
    source: Arc<str>,
    _position: PhantomData<fn() -> P>,
}

impl<P> std::fmt::Debug for CompletedCheckpoints<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletedCheckpoints")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<P: DeserializeOwned> CompletedCheckpoints<P> {
    pub(crate) fn new(rx: watch::Receiver<Option<Arc<Completed>>>, source: Arc<str>) -> Self {
        CompletedCheckpoints {
            rx,
            seen: 0,
            source,
            _position: PhantomData,
        }
    }

    fn decode(&self, completed: &Completed) -> Result<CompletedCheckpoint<P>, CheckpointError> {
        let position = match &completed.position {
            Some(value) => Some(P::deserialize(value).map_err(|e| CheckpointError::Decode {
                what: format!("position of `{}`", self.source),
                reason: e.to_string(),
            })?),
            None => None,
        };
        Ok(CompletedCheckpoint {
            id: completed.id,
            position,
        })
    }

    /// The latest completed checkpoint, if any has completed (or was restored), without
    /// waiting; it counts as seen.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Decode`] when the recorded position is not a `P`.
    pub fn latest(&mut self) -> Result<Option<CompletedCheckpoint<P>>, CheckpointError> {
        let current = self.rx.borrow_and_update().clone();
        match current {
            Some(completed) => {
                self.seen = self.seen.max(completed.id);
                self.decode(&completed).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Waits for a checkpoint newer than the last one returned to complete, and returns the
    /// latest.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Decode`] when the recorded position is not a `P`;
    /// [`CheckpointError::Closed`] when the graph is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while waiting, nothing is lost; the next call returns the latest.
    pub async fn next(&mut self) -> Result<CompletedCheckpoint<P>, CheckpointError> {
        loop {
            let current = self.rx.borrow_and_update().clone();
            if let Some(completed) = current
                && completed.id > self.seen
            {
                self.seen = completed.id;
                return self.decode(&completed);
            }
            if self.rx.changed().await.is_err() {
                return Err(CheckpointError::Closed);
            }
        }
    }
}

/// The checkpoints of a running graph, from
/// [`GraphMonitor::checkpoints`](crate::monitor::GraphMonitor::checkpoints).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct CheckpointStatus {
    /// Whether the graph takes checkpoints.
    pub enabled: bool,
    /// The checkpoint the graph resumed from, if any.
    pub restored_from: Option<u64>,
    /// The checkpoint in flight, if any.
    pub in_flight: Option<u64>,
    /// The latest completed checkpoint.
    pub last_completed: Option<u64>,
    /// When it completed, in milliseconds since the Unix epoch.
    pub last_completed_unix_ms: Option<u64>,
    /// How long it took, from start to written.
    pub last_duration_seconds: Option<f64>,
    /// Its size on disk.
    pub last_size_bytes: Option<u64>,
    /// Checkpoints completed since the graph started.
    pub completed: u64,
    /// Checkpoints abandoned since the graph started.
    pub abandoned: u64,
    /// Why the latest abandoned one was.
    pub last_abandoned_reason: Option<String>,
}
