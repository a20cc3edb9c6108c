//! Graph checks for dataflow topologies, shared by the `pipeline!` macro (at compile time) and
//! by `OperatorGraph::build()` (at run time), so both report the same problems in the same words.
//!
//! The crate has no dependencies and knows nothing about channels or tasks: it sees a list of
//! named vertices with a [`Role`] and a list of directed [`Edge`]s between their indices, and
//! answers either a topological order or every [`Problem`] it found. It also computes the
//! topology's [`Fingerprint`] (with [`Fingerprinter`], whose `const fn`s let `pipeline!` have
//! the compiler evaluate the same fingerprint that `OperatorGraph` computes at run time).
//!
//! # Examples
//!
//! ```
//! use sda_orchestrator_topology::{check, Edge, Role, Vertex};
//!
//! let vertices = [
//!     Vertex::new("radar", Role::Source),
//!     Vertex::new("normalize", Role::Operator),
//!     Vertex::new("archive", Role::Sink),
//! ];
//! let edges = [Edge::new(0, 1), Edge::new(1, 2)];
//! assert_eq!(check(&vertices, &edges), Ok(vec![0, 1, 2]));
//!
//! // Close a cycle: the report names only the cycle, in order.
//! let vertices = [
//!     Vertex::new("src", Role::Source),
//!     Vertex::new("a", Role::Operator),
//!     Vertex::new("b", Role::Operator),
//!     Vertex::new("out", Role::Sink),
//! ];
//! let edges = [Edge::new(0, 1), Edge::new(1, 2), Edge::new(2, 1), Edge::new(2, 3)];
//! let problems = check(&vertices, &edges).unwrap_err();
//! assert_eq!(problems[0].message(&vertices, &edges), "cycle detected: a -> b -> a");
//! ```

#![warn(clippy::unwrap_used, clippy::expect_used)]

mod cycles;
mod fingerprint;
mod problem;
mod roles;

pub use fingerprint::{Fingerprint, Fingerprinter};

/// The capacity of an edge that does not declare its own, in items (per lane on a priority
/// edge). Here so that `pipeline!` and the graph it builds agree on it.
pub const DEFAULT_EDGE_CAPACITY: usize = 1024;
pub use problem::{Endpoint, Problem};

/// What a vertex does in the dataflow: where its items come from and where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Produces items: has outgoing edges and no incoming edge.
    Source,
    /// Transforms items: has both incoming and outgoing edges.
    Operator,
    /// Consumes items: has incoming edges and no outgoing edge.
    Sink,
}

impl Role {
    /// The lowercase noun used in messages: `source`, `operator` or `sink`.
    pub fn noun(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Operator => "operator",
            Role::Sink => "sink",
        }
    }

    /// Whether a vertex of this role must have at least one incoming edge.
    pub fn takes_input(self) -> bool {
        !matches!(self, Role::Source)
    }

    /// Whether a vertex of this role must have at least one outgoing edge.
    pub fn gives_output(self) -> bool {
        !matches!(self, Role::Sink)
    }
}

/// Writes the role's [`noun`](Role::noun), so that messages can put a role in a sentence.
///
/// # Examples
///
/// ```
/// use sda_orchestrator_topology::Role;
///
/// assert_eq!(format!("a {} has no inputs", Role::Source), "a source has no inputs");
/// assert_eq!(Role::Sink.to_string(), Role::Sink.noun());
/// ```
impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.noun())
    }
}

/// A named vertex of the graph under check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vertex<'a> {
    /// The vertex's name, as the user wrote it.
    pub name: &'a str,
    /// The vertex's role.
    pub role: Role,
}

impl<'a> Vertex<'a> {
    /// A vertex called `name` with `role`.
    pub fn new(name: &'a str, role: Role) -> Self {
        Vertex { name, role }
    }
}

/// A directed edge between two vertex indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    /// Index of the upstream vertex.
    pub from: usize,
    /// Index of the downstream vertex.
    pub to: usize,
}

impl Edge {
    /// An edge from vertex `from` to vertex `to`.
    pub fn new(from: usize, to: usize) -> Self {
        Edge { from, to }
    }
}

/// Checks a topology and returns its vertices in topological order.
///
/// The check runs in two passes and reports every problem it finds rather than stopping at the
/// first:
///
/// 1. **Per-role validation**: an empty graph, duplicate names, edges with an endpoint that is
///    not a vertex, self-edges, duplicate edges, edges into a source or out of a sink, and
///    vertices missing the incoming or outgoing edge their role needs.
/// 2. **Cycle detection**: Kahn's algorithm over the well-formed edges. What Kahn cannot order is
///    every cycle *plus everything downstream of one*, so a strongly-connected-components pass
///    (Tarjan) runs over that remainder and each cycle is reported on its own, in edge order,
///    without the innocent vertices behind it.
///
/// The order returned is deterministic: Kahn's queue is seeded in declaration order.
///
/// # Errors
///
/// Every [`Problem`] found, role problems first and cycles after, each in declaration order.
pub fn check(vertices: &[Vertex<'_>], edges: &[Edge]) -> Result<Vec<usize>, Vec<Problem>> {
    if vertices.is_empty() {
        return Err(vec![Problem::Empty]);
    }
    let (mut problems, usable) = roles::validate(vertices, edges);
    match cycles::topological_order(vertices.len(), edges, &usable) {
        Ok(order) if problems.is_empty() => Ok(order),
        Ok(_) => Err(problems),
        Err(found) => {
            problems.extend(found);
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests;
