//! Declaring a topology: vertices with their factories, and typed edges between them.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;

use super::describe::TopologyParts;
use super::vertex::{self, Declared, Nothing, Wire};
use super::{
    AnyHandle, Downstream, EdgeSpec, Fingerprint, GraphError, GraphErrorKind, IntoEdgeSpec,
    Topology, Upstream, VertexRef,
};
use crate::channel::{EdgeInfo, EdgeKind, EdgeRx, EdgeTx, channel};
use crate::checkpoint::CheckpointConfig;
use crate::events::{DEFAULT_LIVE_EVENTS, DEFAULT_RECENT_EVENTS};
use crate::supervisor::stall::StallPolicy;
use crate::{
    EdgeOptions, Lane, Message, OnStall, OperatorContext, OperatorFactory, OperatorHandle,
    RestartPolicy, Role, SinkContext, SinkFactory, SinkHandle, SourceContext, SourceFactory,
    SourceHandle,
};

pub use sda_orchestrator_topology::DEFAULT_EDGE_CAPACITY;

/// Allocates one edge's channel(s) and pushes the sender into the producer's output collector
/// and the receiver into the consumer's input collector (see [`Wire`]), with the item type
/// erased; `false` if a collector is not of the edge's type.
type Allocate = Box<dyn FnOnce(Arc<EdgeInfo>, &mut dyn Any, &mut dyn Any) -> bool + Send>;

fn allocator<T: Message>(
    classify: Option<fn(&T) -> Lane>,
    keep: Option<fn(&T) -> bool>,
) -> Allocate {
    Box::new(move |info, outputs, inputs| {
        let (Some(outputs), Some(inputs)) = (
            outputs.downcast_mut::<Vec<EdgeTx<T>>>(),
            inputs.downcast_mut::<Vec<EdgeRx<T>>>(),
        ) else {
            return false;
        };
        let (tx, rx) = channel::<T>(info, classify, keep);
        outputs.push(tx);
        inputs.push(rx);
        true
    })
}

pub(crate) struct DeclaredVertex {
    pub(crate) name: Arc<str>,
    pub(crate) role: Role,
    pub(crate) restart: RestartPolicy,
    /// What the stall watchdog allows it and does about it.
    pub(crate) stall: StallPolicy,
    pub(crate) wire: Box<dyn Wire>,
}

pub(crate) struct DeclaredEdge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) capacity: usize,
    pub(crate) kind: EdgeKind,
    /// Whether the edge has a filter (it carries only the items the filter keeps).
    pub(crate) filtered: bool,
    /// `std::any::type_name` of the item type.
    pub(crate) item: &'static str,
    pub(crate) allocate: Option<Allocate>,
}

/// A declarative dataflow topology: sources, operators and sinks joined by bounded, typed edges.
///
/// Declaring does nothing but record: [`build`](OperatorGraph::build) validates the whole graph
/// and wires its channels, and [`BuiltGraph::run`](crate::BuiltGraph::run) starts it under a supervisor.
///
/// A factory is called once per start of its vertex, and again on every restart, so it is an
/// `FnMut` and not an `FnOnce`. Each call gets a context holding the vertex's ends (the same
/// ends on every call), its name and the shutdown signal.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut graph = OperatorGraph::new();
/// let numbers = graph.add_source("numbers", RestartPolicy::default(), |mut ctx| async move {
///     for n in 1..=3u32 {
///         ctx.output.send(n).await?;
///     }
///     Ok(())
/// });
/// let square = graph.add_operator("square", RestartPolicy::default(), |mut ctx| async move {
///     while let Some(n) = ctx.input.recv().await {
///         ctx.output.send(u64::from(n * n)).await?;
///     }
///     Ok(())
/// });
/// let print = graph.add_sink("print", RestartPolicy::Never, |mut ctx| async move {
///     while let Some(n) = ctx.input.recv().await {
///         println!("{n}");
///     }
///     Ok(())
/// });
/// graph.connect(&numbers, &square).connect(&square, &print);
///
/// let outcome = graph.build()?.run(SupervisorPolicy::default()).await;
/// assert_eq!(outcome, SupervisorEvent::CleanShutdown);
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// # }).unwrap();
/// ```
pub struct OperatorGraph {
    id: u64,
    pub(crate) vertices: Vec<DeclaredVertex>,
    pub(crate) edges: Vec<DeclaredEdge>,
    /// Problems found while connecting, reported by `build` with the rest.
    pub(crate) connect_errors: Vec<GraphError>,
    default_capacity: usize,
    /// The fingerprint `pipeline!` computed at compile time, if it could.
    declared: Option<Fingerprint>,
    /// The event bus's `(recent, live)` sizes.
    pub(crate) event_buffers: (usize, usize),
    /// How the graph takes checkpoints, if it does.
    pub(crate) checkpoints: Option<CheckpointConfig>,
    /// How long an incoming edge may say nothing before it is left out of the watermark.
    pub(crate) idle_timeout: Option<Duration>,
}

impl Default for OperatorGraph {
    fn default() -> Self {
        OperatorGraph::new()
    }
}

impl std::fmt::Debug for OperatorGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorGraph")
            .field("topology", &self.topology())
            .finish()
    }
}

impl OperatorGraph {
    /// An empty graph whose edges hold [`DEFAULT_EDGE_CAPACITY`] items unless they say otherwise.
    pub fn new() -> Self {
        // Each graph gets its own id so that a handle from another graph is recognised.
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        OperatorGraph {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            vertices: Vec::new(),
            edges: Vec::new(),
            connect_errors: Vec::new(),
            default_capacity: DEFAULT_EDGE_CAPACITY,
            declared: None,
            event_buffers: (DEFAULT_RECENT_EVENTS, DEFAULT_LIVE_EVENTS),
            checkpoints: None,
            idle_timeout: None,
        }
    }

    /// Takes checkpoints as `config` says, and resumes from the latest complete one in its
    /// directory: [`build`](OperatorGraph::build) reads it, and the graph starts with every
    /// source's position and every operator's and sink's state restored (or fresh when the
    /// directory holds none). See [`checkpoint`](crate::checkpoint) for what a checkpoint is and
    /// what it guarantees.
    ///
    /// A graph without checkpoints pays nothing for them.
    ///
    /// # Examples
    ///
    /// See [`checkpoint`](crate::checkpoint).
    pub fn with_checkpoints(mut self, config: CheckpointConfig) -> Self {
        self.checkpoints = Some(config);
        self
    }

    /// Marks an incoming edge idle after it has said nothing (no item, no watermark) for
    /// between one and two `timeout`s: it is then left out of its consumer's watermark until it
    /// speaks again (see [`time`](crate::time)). Without it, edges are never marked idle, and a
    /// silent edge holds its consumer's watermark back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::OperatorGraph;
    ///
    /// let graph = OperatorGraph::new().with_idle_timeout(Duration::from_secs(30));
    /// # let _ = graph;
    /// ```
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout.max(Duration::from_millis(1)));
        self
    }

    /// Sets the capacity of edges that declare none.
    pub fn with_default_capacity(mut self, capacity: usize) -> Self {
        self.default_capacity = capacity;
        self
    }

    /// Sizes the graph's [`EventBus`](crate::events::EventBus): it keeps the `recent` latest
    /// events for subscribers that resume, and lets a live subscriber fall `live` events behind
    /// before it misses some (defaults [`DEFAULT_RECENT_EVENTS`] and [`DEFAULT_LIVE_EVENTS`]).
    pub fn with_event_buffers(mut self, recent: usize, live: usize) -> Self {
        self.event_buffers = (recent.max(1), live.max(1));
        self
    }

    fn declare<I: Message, O: Message>(
        &mut self,
        name: String,
        role: Role,
        restart: RestartPolicy,
        spawner: vertex::Spawner<I, O>,
    ) -> VertexRef {
        let index = self.vertices.len();
        self.vertices.push(DeclaredVertex {
            name: Arc::from(name),
            role,
            restart,
            stall: StallPolicy::default(),
            wire: Box::new(Declared { spawner }),
        });
        VertexRef {
            graph: self.id,
            index,
        }
    }

    /// Declares a source: a vertex that produces items of type `O` and has no input.
    ///
    /// A source must stop and return `Ok(())` when its context's
    /// [`shutdown`](SourceContext::shutdown) token fires; returning `Ok(())` at any time means it
    /// is finished for good, and its downstream drains.
    pub fn add_source<O, F>(
        &mut self,
        name: impl Into<String>,
        restart: RestartPolicy,
        mut factory: F,
    ) -> SourceHandle<O>
    where
        O: Message,
        F: SourceFactory<O>,
    {
        let spawner: vertex::Spawner<Nothing, O> = Box::new(move |_inbox, output, meta| {
            factory(SourceContext {
                output,
                shutdown: meta.shutdown.clone(),
                meta,
            })
            .boxed()
        });
        SourceHandle::new(self.declare(name.into(), Role::Source, restart, spawner))
    }

    /// Declares an operator: a vertex that takes items of type `I` and produces items of type
    /// `O`. It should finish, returning `Ok(())`, when its input returns `None`.
    pub fn add_operator<I, O, F>(
        &mut self,
        name: impl Into<String>,
        restart: RestartPolicy,
        mut factory: F,
    ) -> OperatorHandle<I, O>
    where
        I: Message,
        O: Message,
        F: OperatorFactory<I, O>,
    {
        let spawner: vertex::Spawner<I, O> = Box::new(move |input, output, meta| {
            factory(OperatorContext {
                input,
                output,
                shutdown: meta.shutdown.clone(),
                meta,
            })
            .boxed()
        });
        OperatorHandle::new(self.declare(name.into(), Role::Operator, restart, spawner))
    }

    /// Declares a sink: a vertex that takes items of type `I` and has no output. It should
    /// finish, returning `Ok(())`, when its input returns `None`.
    pub fn add_sink<I, F>(
        &mut self,
        name: impl Into<String>,
        restart: RestartPolicy,
        mut factory: F,
    ) -> SinkHandle<I>
    where
        I: Message,
        F: SinkFactory<I>,
    {
        let spawner: vertex::Spawner<I, Nothing> = Box::new(move |input, _outbox, meta| {
            factory(SinkContext {
                input,
                shutdown: meta.shutdown.clone(),
                meta,
            })
            .boxed()
        });
        SinkHandle::new(self.declare(name.into(), Role::Sink, restart, spawner))
    }

    /// Connects `from` to `to` with an edge of the graph's default capacity.
    ///
    /// The item type `T` must be the output type of `from` and the input type of `to`;
    /// anything else does not compile. A vertex with several outgoing edges sends every item on
    /// each (fan-out with backpressure from the slowest); one with several incoming edges takes
    /// from them in turn (fan-in).
    pub fn connect<T: Message>(
        &mut self,
        from: &impl Upstream<T>,
        to: &impl Downstream<T>,
    ) -> &mut Self {
        self.connect_with(from, to, EdgeOptions::new())
    }

    /// Connects `from` to `to` with the given options: a capacity of its own, priority lanes
    /// ([`EdgeOptions::priority`]) or a lossy broadcast ([`EdgeOptions::broadcast`]).
    ///
    /// Problems that can only be seen here (a handle from another graph, a zero capacity, an
    /// edge that is both priority and broadcast) are recorded and reported by
    /// [`build`](OperatorGraph::build) with all the others.
    pub fn connect_with<T: Message>(
        &mut self,
        from: &impl Upstream<T>,
        to: &impl Downstream<T>,
        options: impl IntoEdgeSpec<T>,
    ) -> &mut Self {
        let EdgeSpec {
            options,
            classify,
            keep,
        } = options.into_spec();
        let (from, to) = (from.upstream(), to.downstream());
        let edge = self.edges.len() + self.connect_errors.len();
        if from.graph != self.id || to.graph != self.id {
            self.connect_errors.push(GraphError::new(
                GraphErrorKind::ForeignHandle { edge },
                format!("edge #{edge} uses a handle that belongs to another graph"),
            ));
            return self;
        }
        let capacity = options.capacity_or(self.default_capacity);
        if capacity == 0 {
            let (from, to) = (
                self.name(from.index).to_owned(),
                self.name(to.index).to_owned(),
            );
            self.connect_errors.push(GraphError::new(
                GraphErrorKind::ZeroCapacity {
                    from: from.clone(),
                    to: to.clone(),
                },
                format!(
                    "edge `{from} -> {to}` has capacity 0: an edge must hold at least one item"
                ),
            ));
            return self;
        }
        let kind = match (options.is_broadcast(), classify.is_some()) {
            (false, false) => EdgeKind::Plain,
            (false, true) => EdgeKind::Priority,
            (true, false) => EdgeKind::Broadcast,
            (true, true) => {
                let (from, to) = (
                    self.name(from.index).to_owned(),
                    self.name(to.index).to_owned(),
                );
                self.connect_errors.push(GraphError::new(
                    GraphErrorKind::ConflictingEdgeKinds {
                        from: from.clone(),
                        to: to.clone(),
                    },
                    format!("edge `{from} -> {to}` is both priority and broadcast: choose one"),
                ));
                return self;
            }
        };
        self.edges.push(DeclaredEdge {
            from: from.index,
            to: to.index,
            capacity,
            kind,
            filtered: keep.is_some(),
            item: std::any::type_name::<T>(),
            allocate: Some(allocator::<T>(classify, keep)),
        });
        self
    }

    /// Sets how long `vertex` may have input queued without making progress before the
    /// supervisor's watchdog reports it as stalled ([`DEFAULT_STALL_AFTER`] otherwise); what
    /// then happens is its [`on_stall`](Self::on_stall).
    ///
    /// Progress is an item taken from its input or put on an output. The clock runs only while
    /// items wait on its input, so an idle operator is never stalled, nor is a source (it has
    /// no input), nor an operator whose outputs hold items its downstream has not taken yet
    /// (it waits on its downstream, which is the one reported if it is stuck). A stall is
    /// reported between `after` and about `1.5 × after` after the last progress (the watchdog
    /// looks every quarter of the shortest `stall_after`, at most every second). Use a
    /// generous value for an operator that legitimately spends long on one item;
    /// `Duration::MAX` turns the watchdog off for it.
    ///
    /// A zero duration, or a handle from another graph, is reported by
    /// [`build`](Self::build) with the other problems.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::{OnStall, OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let mut graph = OperatorGraph::new();
    /// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("archive", RestartPolicy::default(), |_ctx: SinkContext<u8>| async {
    ///     Ok(())
    /// });
    /// graph.connect(&src, &out);
    /// graph.stall_after(&out, Duration::from_secs(10)).on_stall(&out, OnStall::Restart);
    /// assert!(graph.build().is_ok());
    /// ```
    ///
    /// [`DEFAULT_STALL_AFTER`]: crate::supervisor::DEFAULT_STALL_AFTER
    pub fn stall_after(&mut self, vertex: &impl AnyHandle, after: Duration) -> &mut Self {
        if let Some(index) = self.own(vertex.vertex_ref(), "stall_after") {
            if after.is_zero() {
                let operator = self.name(index).to_owned();
                self.connect_errors.push(GraphError::new(
                    GraphErrorKind::ZeroStallAfter {
                        operator: operator.clone(),
                    },
                    format!(
                        "`{operator}` has `stall_after` 0: it must be longer than zero \
                         (`Duration::MAX` turns the watchdog off for it)"
                    ),
                ));
            } else {
                self.vertices[index].stall.after = after;
            }
        }
        self
    }

    /// Sets what the supervisor's watchdog does when `vertex` is stalled (see
    /// [`stall_after`](Self::stall_after)): [`OnStall::Report`] (the default) or
    /// [`OnStall::Restart`]. A handle from another graph is reported by
    /// [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{OnStall, OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let mut graph = OperatorGraph::new();
    /// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("archive", RestartPolicy::default(), |_ctx: SinkContext<u8>| async {
    ///     Ok(())
    /// });
    /// graph.connect(&src, &out).on_stall(&out, OnStall::Restart);
    /// assert_eq!(graph.topology().vertices[1].on_stall, OnStall::Restart);
    /// ```
    pub fn on_stall(&mut self, vertex: &impl AnyHandle, on_stall: OnStall) -> &mut Self {
        if let Some(index) = self.own(vertex.vertex_ref(), "on_stall") {
            self.vertices[index].stall.on_stall = on_stall;
        }
        self
    }

    /// The index of `vertex` if it belongs to this graph; otherwise the problem is recorded
    /// for `build`.
    fn own(&mut self, vertex: VertexRef, setting: &'static str) -> Option<usize> {
        if vertex.graph == self.id && vertex.index < self.vertices.len() {
            return Some(vertex.index);
        }
        self.connect_errors.push(GraphError::new(
            GraphErrorKind::ForeignVertex { setting },
            format!("`{setting}` was given a handle that belongs to another graph"),
        ));
        None
    }

    pub(crate) fn name(&self, index: usize) -> &str {
        self.vertices.get(index).map_or("?", |v| &v.name)
    }

    /// The declared structure: vertices with their roles, restart policies and stall
    /// settings, edges with their capacities, in declaration order.
    pub fn topology(&self) -> Topology {
        let parts = self.topology_parts();
        parts.describe(parts.fingerprint())
    }

    /// The topology's parts, names shared with the declaration.
    pub(crate) fn topology_parts(&self) -> TopologyParts {
        TopologyParts {
            vertices: self
                .vertices
                .iter()
                .map(|v| (Arc::clone(&v.name), v.role, v.restart, v.stall))
                .collect(),
            edges: self
                .edges
                .iter()
                .map(|e| (e.from, e.to, e.capacity, e.kind.noun(), e.filtered, e.item))
                .collect(),
        }
    }

    /// The topology's fingerprint as declared so far: [`Topology::fingerprint`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{EdgeOptions, OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let declare = |capacity| {
    ///     let mut graph = OperatorGraph::new();
    ///     let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    ///     let out = graph.add_sink("archive", RestartPolicy::Never, |_ctx: SinkContext<u8>| async {
    ///         Ok(())
    ///     });
    ///     graph.connect_with(&src, &out, EdgeOptions::new().capacity(capacity));
    ///     graph
    /// };
    /// assert_eq!(declare(8).fingerprint(), declare(8).fingerprint());
    /// assert_ne!(declare(8).fingerprint(), declare(16).fingerprint());
    /// ```
    pub fn fingerprint(&self) -> Fingerprint {
        self.topology_parts().fingerprint()
    }

    /// The fingerprint `pipeline!` computed at compile time for this graph, or `None` for a
    /// graph declared by hand, or by a `pipeline!` with an edge capacity that is not a constant
    /// (a literal or an `UPPER_CASE` constant). It equals [`fingerprint`](Self::fingerprint)
    /// until edges or vertices are added after the macro.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{SinkContext, SourceContext, pipeline};
    ///
    /// const DEPTH: usize = 64;
    /// let graph = pipeline! {
    ///     source radar = |_ctx: SourceContext<u8>| async { Ok(()) };
    ///     sink archive = |_ctx: SinkContext<u8>| async { Ok(()) };
    ///     radar -> [capacity = DEPTH] archive;
    /// };
    /// assert_eq!(graph.declared_fingerprint(), Some(graph.fingerprint()));
    /// ```
    pub fn declared_fingerprint(&self) -> Option<Fingerprint> {
        self.declared
    }

    /// Records the fingerprint `pipeline!` computed at compile time. Not for hand-written
    /// graphs: the macro calls it.
    #[doc(hidden)]
    pub fn __declare_fingerprint(&mut self, fingerprint: Fingerprint) -> &mut Self {
        self.declared = Some(fingerprint);
        self
    }
}
