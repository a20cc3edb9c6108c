//! What can be wrong with a topology, and how to say it.

use crate::{Edge, Vertex};

/// Which end of an edge a [`Problem::UnknownVertex`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The upstream end (`from`).
    From,
    /// The downstream end (`to`).
    To,
}

/// One problem found by [`check`](crate::check). Vertices and edges are named by their index in
/// the slices given to `check`, so a caller can attach its own locations (source spans, handles)
/// to each; [`Problem::message`] renders the text every caller shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Problem {
    /// The graph has no vertex at all.
    Empty,
    /// Two vertices share a name; `first` was declared before `second`.
    DuplicateName {
        /// The earlier declaration.
        first: usize,
        /// The later declaration.
        second: usize,
    },
    /// An edge names a vertex index that does not exist.
    UnknownVertex {
        /// The edge.
        edge: usize,
        /// Which end of it is unknown.
        endpoint: Endpoint,
    },
    /// An edge goes from a vertex to itself.
    SelfEdge {
        /// The edge.
        edge: usize,
    },
    /// The same two vertices are connected twice in the same direction, so every item would be
    /// delivered twice.
    DuplicateEdge {
        /// The earlier edge.
        first: usize,
        /// The later edge.
        second: usize,
    },
    /// An edge points into a source; sources take no input.
    EdgeIntoSource {
        /// The edge.
        edge: usize,
    },
    /// An edge leaves a sink; sinks give no output.
    EdgeOutOfSink {
        /// The edge.
        edge: usize,
    },
    /// An operator or sink has no incoming edge, so it would never receive anything.
    MissingInput {
        /// The vertex.
        vertex: usize,
    },
    /// A source or operator has no outgoing edge, so what it produces would go nowhere.
    MissingOutput {
        /// The vertex.
        vertex: usize,
    },
    /// A directed cycle. `path` lists its vertices in edge order starting at the target of
    /// `closing_edge`, which is the cycle's edge declared last: the one that closed it.
    Cycle {
        /// The vertices of the cycle in order; the cycle returns from the last to the first.
        path: Vec<usize>,
        /// The edge from the last vertex of `path` back to the first.
        closing_edge: usize,
    },
}

impl Problem {
    /// Renders the problem as one lowercase sentence naming the vertices involved, for example
    /// ``operator `dedup` has no incoming edge`` or `cycle detected: a -> b -> c -> a`.
    ///
    /// `vertices` and `edges` must be the slices the problem was found in.
    pub fn message(&self, vertices: &[Vertex<'_>], edges: &[Edge]) -> String {
        let name = |index: usize| vertices.get(index).map_or("?", |v| v.name);
        let noun = |index: usize| vertices.get(index).map_or("vertex", |v| v.role.noun());
        let edge_text = |index: usize| match edges.get(index) {
            Some(e) => format!("`{} -> {}`", name(e.from), name(e.to)),
            None => "?".to_owned(),
        };
        match self {
            Problem::Empty => {
                "pipeline is empty: declare at least one source and one sink".to_owned()
            }
            Problem::DuplicateName { first, .. } => {
                format!(
                    "duplicate name `{}`: every vertex needs its own name",
                    name(*first)
                )
            }
            Problem::UnknownVertex { edge, endpoint } => {
                let side = match endpoint {
                    Endpoint::From => "upstream",
                    Endpoint::To => "downstream",
                };
                format!("edge #{edge} names an unknown {side} vertex")
            }
            Problem::SelfEdge { edge } => {
                let v = edges.get(*edge).map_or(usize::MAX, |e| e.from);
                format!("{} `{}` has an edge to itself", noun(v), name(v))
            }
            Problem::DuplicateEdge { second, .. } => {
                format!("edge {} is declared twice", edge_text(*second))
            }
            Problem::EdgeIntoSource { edge } => {
                let v = edges.get(*edge).map_or(usize::MAX, |e| e.to);
                format!(
                    "edge {} points into source `{}`: sources have no inputs",
                    edge_text(*edge),
                    name(v)
                )
            }
            Problem::EdgeOutOfSink { edge } => {
                let v = edges.get(*edge).map_or(usize::MAX, |e| e.from);
                format!(
                    "edge {} leaves sink `{}`: sinks have no outputs",
                    edge_text(*edge),
                    name(v)
                )
            }
            Problem::MissingInput { vertex } => {
                format!("{} `{}` has no incoming edge", noun(*vertex), name(*vertex))
            }
            Problem::MissingOutput { vertex } => {
                format!("{} `{}` has no outgoing edge", noun(*vertex), name(*vertex))
            }
            Problem::Cycle { path, .. } => {
                let mut text = String::from("cycle detected: ");
                for &v in path {
                    text.push_str(name(v));
                    text.push_str(" -> ");
                }
                text.push_str(path.first().map_or("?", |&v| name(v)));
                text
            }
        }
    }
}
