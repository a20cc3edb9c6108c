//! The parts of a graph beyond its builder: validation errors, descriptions of its structure,
//! the traits that type-check an edge's ends, edge specifications, and router errors.
//!
//! A pipeline author declares a graph with the crate root's [`OperatorGraph`](crate::OperatorGraph)
//! and its handles and options; this module holds the names needed to look closer:
//!
//! * [`GraphError`] and [`GraphErrorKind`]: each problem a
//!   [`BuildError`](crate::BuildError) reports, typed.
//! * [`Topology`], [`VertexDescription`] and [`EdgeDescription`]: the declared structure, as
//!   JSON-ready data or a Mermaid flowchart.
//! * [`Upstream`], [`Downstream`], [`AnyHandle`] and [`VertexRef`]: what a handle can be
//!   connected as, and any handle for the settings every vertex has.
//! * [`EdgeSpec`] and [`IntoEdgeSpec`]: edge options typed by the edge's item.
//! * [`FeedError`]: why a router refused a feed.
//! * [`Fingerprint`] and [`Fingerprinter`]: the topology's stable SHA-256 fingerprint, the
//!   same whether `pipeline!` computes it at compile time or the graph at run time.
//! * [`DEFAULT_EDGE_CAPACITY`].
//!
//! # Examples
//!
//! ```
//! use sda_orchestrator::graph::GraphErrorKind;
//! use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
//!
//! let mut graph = OperatorGraph::new();
//! let radar = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
//! let archive = graph.add_sink("archive", RestartPolicy::Never, |_ctx: SinkContext<u32>| async {
//!     Ok(())
//! });
//! graph.connect(&radar, &archive);
//! graph.connect(&radar, &archive);
//!
//! let error = graph.build().unwrap_err();
//! assert!(matches!(
//!     error.errors()[0].kind(),
//!     GraphErrorKind::DuplicateEdge { from, to } if from == "radar" && to == "archive"
//! ));
//! ```

pub(crate) mod build;
pub(crate) mod declare;
pub(crate) mod describe;
pub(crate) mod error;
pub(crate) mod factory;
pub(crate) mod handle;
pub(crate) mod options;
pub(crate) mod router;
mod vertex;

pub use declare::DEFAULT_EDGE_CAPACITY;
pub use describe::{EdgeDescription, Topology, VertexDescription};
pub use error::{GraphError, GraphErrorKind};
pub use handle::{AnyHandle, Downstream, Upstream, VertexRef};
pub use options::{EdgeSpec, IntoEdgeSpec};
pub use router::FeedError;
pub use sda_orchestrator_topology::{Fingerprint, Fingerprinter};

pub(crate) use declare::DeclaredVertex;
pub(crate) use vertex::{Incarnation, Runnable};
