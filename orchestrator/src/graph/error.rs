//! Why a graph did not build.

use std::fmt;

/// What kind of problem a [`GraphError`] is, with the names involved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphErrorKind {
    /// The graph has no vertex.
    Empty,
    /// Two vertices share a name.
    DuplicateName {
        /// The shared name.
        name: String,
    },
    /// An edge uses a handle from another `OperatorGraph`.
    ForeignHandle {
        /// The edge's position in connection order.
        edge: usize,
    },
    /// An edge was declared with capacity 0; every edge needs room for at least one item.
    ZeroCapacity {
        /// Upstream vertex.
        from: String,
        /// Downstream vertex.
        to: String,
    },
    /// An edge was declared both with priority lanes and as a lossy broadcast.
    ConflictingEdgeKinds {
        /// Upstream vertex.
        from: String,
        /// Downstream vertex.
        to: String,
    },
    /// A vertex is connected to itself.
    SelfEdge {
        /// The vertex.
        operator: String,
    },
    /// The same edge is declared twice.
    DuplicateEdge {
        /// Upstream vertex.
        from: String,
        /// Downstream vertex.
        to: String,
    },
    /// An edge points into a source.
    EdgeIntoSource {
        /// Upstream vertex.
        from: String,
        /// The source.
        to: String,
    },
    /// An edge leaves a sink.
    EdgeOutOfSink {
        /// The sink.
        from: String,
        /// Downstream vertex.
        to: String,
    },
    /// An operator or sink has no incoming edge.
    MissingInput {
        /// The vertex.
        operator: String,
    },
    /// A source or operator has no outgoing edge.
    MissingOutput {
        /// The vertex.
        operator: String,
    },
    /// A directed cycle, its vertices in edge order.
    Cycle {
        /// The cycle's vertices; the last one feeds the first.
        path: Vec<String>,
    },
    /// A vertex setting ([`OperatorGraph::stall_after`](crate::OperatorGraph::stall_after),
    /// [`OperatorGraph::on_stall`](crate::OperatorGraph::on_stall)) was given a handle from
    /// another `OperatorGraph`.
    ForeignVertex {
        /// The setting: `stall_after` or `on_stall`.
        setting: &'static str,
    },
    /// A vertex was declared with a `stall_after` of zero: the watchdog would report it as
    /// soon as one item waited.
    ZeroStallAfter {
        /// The vertex.
        operator: String,
    },
    /// A channel end could not be handed to its vertex. This is a bug in the library, reported
    /// rather than panicking.
    Wiring {
        /// The vertex.
        operator: String,
    },
    /// The checkpoint directory given to
    /// [`OperatorGraph::with_checkpoints`](crate::OperatorGraph::with_checkpoints) exists but
    /// cannot be read.
    Checkpoint {
        /// The directory.
        directory: String,
        /// What went wrong.
        reason: String,
    },
}

/// One problem with a graph: its kind, with the names involved, and the message to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GraphError {
    kind: GraphErrorKind,
    message: String,
}

impl GraphError {
    pub(crate) fn new(kind: GraphErrorKind, message: String) -> Self {
        GraphError { kind, message }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> &GraphErrorKind {
        &self.kind
    }

    /// The message, for example ``operator `dedup` has no incoming edge``.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Every problem [`OperatorGraph::build`](crate::OperatorGraph::build) found; it reports them all
/// rather than stopping at the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    errors: Vec<GraphError>,
}

impl BuildError {
    pub(crate) fn new(errors: Vec<GraphError>) -> Self {
        BuildError { errors }
    }

    /// The problems, in the order they were found: declaration problems first, cycles last.
    pub fn errors(&self) -> &[GraphError] {
        &self.errors
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [only] => write!(f, "{only}"),
            errors => {
                write!(f, "{} problems in the graph: ", errors.len())?;
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for BuildError {}
