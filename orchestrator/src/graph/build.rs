//! `build()`: validate, allocate a bounded channel per edge, and wire every vertex.

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use sda_orchestrator_topology::{self as topology, Problem};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::describe::TopologyParts;
use super::{DeclaredVertex, GraphError, GraphErrorKind, Runnable, Topology};
use crate::channel::{EdgeInfo, EdgeKind};
use crate::checkpoint::{
    CheckpointConfig, CheckpointStatus, CheckpointStore, Checkpoints, Restored, StoredCheckpoint,
    VertexCell,
};
use crate::control::{GraphControls, PauseGate};
use crate::events::EventBus;
use crate::monitor::GraphMonitor;
use crate::supervisor;
use crate::supervisor::stall::StallPolicy;
use crate::{
    BuildError, OperatorGraph, RestartPolicy, Role, ShutdownHandle, SupervisorEvent,
    SupervisorPolicy,
};

/// A validated graph with every channel allocated and every vertex wired, ready to
/// [`run`](BuiltGraph::run).
///
/// Nothing runs until `run` is polled: building is synchronous and needs no runtime, and no
/// operator can start (or fail) before a supervisor is there to see it.
pub struct BuiltGraph {
    pub(crate) vertices: Vec<WiredVertex>,
    /// Vertex indices in topological order: the order in which they are started.
    pub(crate) order: Vec<usize>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) monitor: GraphMonitor,
    /// What the topology is made of; its description is made when first asked for.
    parts: TopologyParts,
    topology: OnceLock<Topology>,
    fingerprint: super::Fingerprint,
    /// The graph's checkpointing, started by the supervisor; `None` without checkpoints.
    pub(crate) checkpoints: Option<Checkpoints>,
    /// The checkpoint the graph resumes from.
    restored: Option<u64>,
}

impl std::fmt::Debug for BuiltGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltGraph")
            .field("topology", self.topology())
            .finish_non_exhaustive()
    }
}

pub(crate) struct WiredVertex {
    pub(crate) name: Arc<str>,
    pub(crate) restart: RestartPolicy,
    /// What the stall watchdog allows it and does about it.
    pub(crate) stall: StallPolicy,
    pub(crate) runnable: Box<dyn Runnable>,
    /// A source's pause gate, handed to every incarnation so that a restart stays paused.
    pub(crate) pause: Option<Arc<PauseGate>>,
    /// The vertex's checkpoint and event-time cell, handed to every incarnation.
    pub(crate) cell: Arc<VertexCell>,
}

impl OperatorGraph {
    /// Validates the graph and wires it, in four passes:
    ///
    /// 1. **Per-role validation**: sources need an outgoing edge, sinks an incoming one,
    ///    operators both; duplicate names, self-edges, duplicate edges, edges into a source or
    ///    out of a sink, zero capacities and handles from another graph are errors.
    /// 2. **Cycle detection**: Kahn's topological sort, then Tarjan's strongly connected
    ///    components over what Kahn could not order, so each cycle is named on its own, in
    ///    order (`cycle detected: a -> b -> c -> a`), without what lies downstream of it.
    /// 3. **Channel allocation**: one bounded channel per edge, of the edge's capacity.
    /// 4. **Wiring**, in topological order: each vertex is handed its ends, each end exactly
    ///    once, which is checked. The supervisor later starts vertices in this same order.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] holding every problem found by passes 1 and 2, each naming the
    /// vertices involved.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let mut graph = OperatorGraph::new();
    /// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let dedup = graph.add_operator("dedup", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("archive", RestartPolicy::Never, |_ctx: SinkContext<u32>| async { Ok(()) });
    /// graph.connect(&src, &out);
    /// # let _: &sda_orchestrator::OperatorHandle<u32, u32> = &dedup;
    ///
    /// let error = graph.build().unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "2 problems in the graph: operator `dedup` has no incoming edge; \
    ///      operator `dedup` has no outgoing edge"
    /// );
    /// ```
    pub fn build(self) -> Result<BuiltGraph, BuildError> {
        let parts = self.topology_parts();
        let fingerprint = parts.fingerprint();
        let OperatorGraph {
            vertices,
            edges,
            mut connect_errors,
            event_buffers,
            checkpoints: checkpoint_config,
            idle_timeout,
            ..
        } = self;

        // Passes 1 and 2: one implementation, shared with the `pipeline!` macro.
        let checked_vertices: Vec<topology::Vertex<'_>> = vertices
            .iter()
            .map(|v| topology::Vertex::new(&v.name, v.role))
            .collect();
        let checked_edges: Vec<topology::Edge> = edges
            .iter()
            .map(|e| topology::Edge::new(e.from, e.to))
            .collect();
        let order = match topology::check(&checked_vertices, &checked_edges) {
            Ok(order) => order,
            Err(problems) => {
                connect_errors.extend(
                    problems
                        .iter()
                        .map(|p| graph_error(p, &checked_vertices, &checked_edges)),
                );
                Vec::new()
            }
        };
        if !connect_errors.is_empty() {
            return Err(BuildError::new(connect_errors));
        }

        // The vertices a checkpoint barrier reaches: everything downstream of a source through
        // edges that carry barriers (not lossy broadcast ones). Only their outgoing edges carry
        // barriers, so that no inbox waits for a barrier that cannot come.
        let participants = participants(&vertices, &edges);

        // Pass 3: a bounded channel per edge, its ends pushed straight into typed collectors,
        // one per vertex side.
        let mut degrees = vec![(0usize, 0usize); vertices.len()];
        for edge in &edges {
            degrees[edge.to].0 += 1;
            degrees[edge.from].1 += 1;
        }
        let (mut inputs, mut outputs): (Vec<Collector>, Vec<Collector>) = vertices
            .iter()
            .zip(&degrees)
            .map(|(v, &(ins, outs))| v.wire.collectors(ins, outs))
            .unzip();
        let names: Arc<[Arc<str>]> = vertices.iter().map(|v| Arc::clone(&v.name)).collect();
        let mut infos = Vec::with_capacity(edges.len());
        let mut edges = edges;
        for edge in &mut edges {
            let info = Arc::new(EdgeInfo::new(
                Arc::clone(&names),
                edge.from,
                edge.to,
                edge.capacity,
                edge.kind,
                edge.kind != EdgeKind::Broadcast && participants[edge.from],
            ));
            let placed = edge.allocate.take().is_some_and(|allocate| {
                allocate(
                    Arc::clone(&info),
                    outputs[edge.from].as_mut(),
                    inputs[edge.to].as_mut(),
                )
            });
            if !placed {
                return Err(BuildError::new(vec![wiring_error(info.name())]));
            }
            infos.push(info);
        }

        // Pass 4: hand every vertex its ends, in topological order, each end exactly once.
        // Sources also get their pause gate, which shutdown opens so a paused source can drain.
        let shutdown = CancellationToken::new();
        let gates: Vec<Option<Arc<PauseGate>>> = vertices
            .iter()
            .map(|v| (v.role == Role::Source).then(|| Arc::new(PauseGate::new(shutdown.clone()))))
            .collect();
        let monitor = GraphMonitor::new(
            vertices
                .iter()
                .zip(&gates)
                .map(|(v, gate)| (Arc::clone(&v.name), v.role, gate.clone()))
                .collect(),
            infos,
            Instant::now(),
            EventBus::new(event_buffers.0, event_buffers.1),
        );
        let (checkpoints, cells, restored) = match checkpoint_config {
            Some(config) => prepare_checkpoints(
                config,
                &vertices,
                participants,
                idle_timeout,
                fingerprint.to_hex(),
            )?,
            None => {
                let cells = vertices
                    .iter()
                    .enumerate()
                    .map(|(index, v)| {
                        Arc::new(VertexCell::new(
                            index,
                            Arc::clone(&v.name),
                            v.role == Role::Source,
                            None,
                            idle_timeout,
                            Restored::default(),
                        ))
                    })
                    .collect();
                (None, cells, None)
            }
        };
        if checkpoints.is_some() {
            monitor.update_checkpoints(|status: &mut CheckpointStatus| {
                status.enabled = true;
                status.restored_from = restored;
            });
        }
        let mut declared: Vec<Option<DeclaredVertex>> = vertices.into_iter().map(Some).collect();
        let mut wired: Vec<Option<WiredVertex>> = declared.iter().map(|_| None).collect();
        let mut handed = 0;
        let mut errors = Vec::new();
        for &index in &order {
            let Some(vertex) = declared[index].take() else {
                continue;
            };
            let ins = std::mem::replace(&mut inputs[index], Box::new(()));
            let outs = std::mem::replace(&mut outputs[index], Box::new(()));
            handed += degrees[index].0 + degrees[index].1;
            match vertex.wire.wire(ins, outs) {
                Some(runnable) => {
                    wired[index] = Some(WiredVertex {
                        name: vertex.name,
                        restart: vertex.restart,
                        stall: vertex.stall,
                        runnable,
                        pause: gates[index].clone(),
                        cell: Arc::clone(&cells[index]),
                    })
                }
                None => errors.push(wiring_error(&vertex.name)),
            }
        }
        let leftovers = declared.iter().flatten().map(|v| wiring_error(&v.name));
        errors.extend(leftovers);
        if handed != 2 * edges.len() && errors.is_empty() {
            errors.push(wiring_error("<graph>"));
        }
        let vertices: Vec<WiredVertex> = wired.into_iter().flatten().collect();
        if !errors.is_empty() {
            return Err(BuildError::new(errors));
        }

        Ok(BuiltGraph {
            vertices,
            order,
            shutdown,
            monitor,
            fingerprint,
            parts,
            topology: OnceLock::new(),
            checkpoints,
            restored,
        })
    }
}

/// Which vertices a checkpoint barrier reaches, by index: the sources, and everything
/// downstream of one through edges that are not lossy broadcasts.
fn participants(vertices: &[DeclaredVertex], edges: &[super::declare::DeclaredEdge]) -> Vec<bool> {
    // Outgoing adjacency in one array (a counting sort by `from`), not a list per vertex.
    let n = vertices.len();
    let carries = |e: &&super::declare::DeclaredEdge| e.kind != EdgeKind::Broadcast;
    let mut start = vec![0usize; n + 1];
    for edge in edges.iter().filter(carries) {
        start[edge.from + 1] += 1;
    }
    for v in 0..n {
        start[v + 1] += start[v];
    }
    let mut next = start.clone();
    let mut outgoing = vec![0usize; start[n]];
    for edge in edges.iter().filter(carries) {
        outgoing[next[edge.from]] = edge.to;
        next[edge.from] += 1;
    }
    let mut reached: Vec<bool> = vertices.iter().map(|v| v.role == Role::Source).collect();
    let mut stack: Vec<usize> = (0..n).filter(|&i| reached[i]).collect();
    while let Some(vertex) = stack.pop() {
        for &next in &outgoing[start[vertex]..start[vertex + 1]] {
            if !reached[next] {
                reached[next] = true;
                stack.push(next);
            }
        }
    }
    reached
}

/// What `build` makes for a graph that takes checkpoints: the coordinator (not started), each
/// vertex's cell with what the latest complete checkpoint restores, and that checkpoint's id.
type Prepared = (Option<Checkpoints>, Vec<Arc<VertexCell>>, Option<u64>);

fn prepare_checkpoints(
    config: CheckpointConfig,
    vertices: &[DeclaredVertex],
    participants: Vec<bool>,
    idle_timeout: Option<std::time::Duration>,
    fingerprint: String,
) -> Result<Prepared, BuildError> {
    let store = CheckpointStore::new(config.directory());
    let unreadable = |error: crate::checkpoint::CheckpointError| {
        let directory = config.directory().display().to_string();
        BuildError::new(vec![GraphError::new(
            GraphErrorKind::Checkpoint {
                directory: directory.clone(),
                reason: error.to_string(),
            },
            format!("checkpoint directory `{directory}` cannot be read: {error}"),
        )])
    };
    let latest: Option<StoredCheckpoint> = store.latest().map_err(unreadable)?;
    let next_id = store
        .next_id()
        .map_err(unreadable)?
        .max(latest.as_ref().map_or(1, |c| c.id() + 1));
    if let Some(checkpoint) = &latest {
        if checkpoint.fingerprint() != fingerprint {
            tracing::warn!(
                target: "sda_orchestrator::checkpoint",
                checkpoint = checkpoint.id(),
                "checkpoint {} was taken by a graph of another topology; states and positions are restored by vertex name",
                checkpoint.id()
            );
        }
        tracing::info!(
            target: "sda_orchestrator::checkpoint",
            checkpoint = checkpoint.id(),
            "resuming from checkpoint {}",
            checkpoint.id()
        );
    }
    let shared = Arc::new(crate::checkpoint::coordinator::Shared::default());
    let cells: Vec<Arc<VertexCell>> = vertices
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let is_source = v.role == Role::Source;
            let restored = latest
                .as_ref()
                .map_or_else(Restored::default, |c| Restored {
                    states: c.raw_states(&v.name),
                    position: c.raw_position(&v.name),
                    completed: is_source.then_some(c.id()),
                });
            Arc::new(VertexCell::new(
                index,
                Arc::clone(&v.name),
                is_source,
                Some(Arc::clone(&shared)),
                idle_timeout,
                restored,
            ))
        })
        .collect();
    let restored = latest.as_ref().map(StoredCheckpoint::id);
    let checkpoints = Checkpoints {
        config,
        shared,
        cells: cells.clone(),
        roles: vertices.iter().map(|v| v.role).collect(),
        participants,
        next_id,
        fingerprint,
        store,
    };
    Ok((Some(checkpoints), cells, restored))
}

impl BuiltGraph {
    /// A handle that starts a graceful shutdown: sources are told to stop, everything they
    /// produced drains through the graph, and what is still running at the drain deadline is
    /// aborted and named. Take it before calling [`run`](BuiltGraph::run).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shutdown.clone())
    }

    /// A live view of every operator's state and every edge's queue.
    pub fn monitor(&self) -> GraphMonitor {
        self.monitor.clone()
    }

    /// A handle that pauses and resumes the graph's sources, before or while it runs. See
    /// [`GraphControls`].
    pub fn controls(&self) -> GraphControls {
        GraphControls::new(self.monitor.clone())
    }

    /// The graph's structure.
    pub fn topology(&self) -> &Topology {
        self.topology
            .get_or_init(|| self.parts.describe(self.fingerprint))
    }

    /// The topology's fingerprint ([`Topology::fingerprint`]).
    pub fn fingerprint(&self) -> super::Fingerprint {
        self.fingerprint
    }

    /// The checkpoint the graph resumes from: the latest complete one in the directory of
    /// [`OperatorGraph::with_checkpoints`], read by `build`. `None` when the graph starts fresh
    /// (no checkpoint there, or no checkpoints configured).
    pub fn restored_checkpoint(&self) -> Option<u64> {
        self.restored
    }

    /// Starts every vertex in topological order and supervises the graph until it ends.
    ///
    /// The returned future completes with [`SupervisorEvent::CleanShutdown`] when every vertex
    /// finished (the sources ran out, or a shutdown drained the graph), or with the event that
    /// ended it: a panic, a spent restart budget, or a drain deadline that had to abort
    /// stragglers. See [`SupervisorEvent`] and the crate documentation for the semantics.
    ///
    /// # Panics
    ///
    /// Panics when polled outside a tokio runtime with the time driver enabled.
    pub fn run(self, policy: SupervisorPolicy) -> impl Future<Output = SupervisorEvent> + Send {
        supervisor::supervise(self, policy)
    }
}

/// A vertex side's typed collector of channel ends (see `Wire`).
type Collector = Box<dyn Any + Send>;

fn wiring_error(name: &str) -> GraphError {
    GraphError::new(
        GraphErrorKind::Wiring {
            operator: name.to_owned(),
        },
        format!("channel ends could not be handed to `{name}` (a bug in sda-orchestrator)"),
    )
}

/// Turns a problem found by the shared checks into a typed error naming the vertices.
fn graph_error(
    problem: &Problem,
    vertices: &[topology::Vertex<'_>],
    edges: &[topology::Edge],
) -> GraphError {
    let name = |i: usize| {
        vertices
            .get(i)
            .map_or_else(String::new, |v| v.name.to_owned())
    };
    let ends = |e: usize| {
        edges.get(e).map_or((String::new(), String::new()), |e| {
            (name(e.from), name(e.to))
        })
    };
    let kind = match problem {
        Problem::Empty => GraphErrorKind::Empty,
        Problem::DuplicateName { first, .. } => {
            GraphErrorKind::DuplicateName { name: name(*first) }
        }
        Problem::UnknownVertex { edge, .. } => GraphErrorKind::ForeignHandle { edge: *edge },
        Problem::SelfEdge { edge } => GraphErrorKind::SelfEdge {
            operator: ends(*edge).0,
        },
        Problem::DuplicateEdge { second, .. } => {
            let (from, to) = ends(*second);
            GraphErrorKind::DuplicateEdge { from, to }
        }
        Problem::EdgeIntoSource { edge } => {
            let (from, to) = ends(*edge);
            GraphErrorKind::EdgeIntoSource { from, to }
        }
        Problem::EdgeOutOfSink { edge } => {
            let (from, to) = ends(*edge);
            GraphErrorKind::EdgeOutOfSink { from, to }
        }
        Problem::MissingInput { vertex } => GraphErrorKind::MissingInput {
            operator: name(*vertex),
        },
        Problem::MissingOutput { vertex } => GraphErrorKind::MissingOutput {
            operator: name(*vertex),
        },
        Problem::Cycle { path, .. } => GraphErrorKind::Cycle {
            path: path.iter().map(|&v| name(v)).collect(),
        },
    };
    GraphError::new(kind, problem.message(vertices, edges))
}
