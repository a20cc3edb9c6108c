//! Pass 1: per-role validation.

use std::collections::HashMap;

use crate::{Edge, Endpoint, Problem, Role, Vertex};

/// Checks names, edge endpoints and roles. Returns every problem found and, per edge, whether it
/// is well-formed enough to take part in cycle detection: an edge that is already reported as
/// wrong is left out there so that one mistake yields one error, not a cascade.
pub(crate) fn validate(vertices: &[Vertex<'_>], edges: &[Edge]) -> (Vec<Problem>, Vec<bool>) {
    let mut problems = Vec::new();

    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(vertices.len());
    for (index, vertex) in vertices.iter().enumerate() {
        if let Some(&first) = by_name.get(vertex.name) {
            problems.push(Problem::DuplicateName {
                first,
                second: index,
            });
        } else {
            by_name.insert(vertex.name, index);
        }
    }

    let mut has_input = vec![false; vertices.len()];
    let mut has_output = vec![false; vertices.len()];
    let mut usable = vec![false; edges.len()];
    let mut seen_edges: HashMap<(usize, usize), usize> = HashMap::with_capacity(edges.len());
    for (index, edge) in edges.iter().enumerate() {
        let (Some(from), Some(to)) = (vertices.get(edge.from), vertices.get(edge.to)) else {
            let endpoint = if edge.from >= vertices.len() {
                Endpoint::From
            } else {
                Endpoint::To
            };
            problems.push(Problem::UnknownVertex {
                edge: index,
                endpoint,
            });
            continue;
        };
        if edge.from == edge.to {
            problems.push(Problem::SelfEdge { edge: index });
            continue;
        }
        if let Some(&first) = seen_edges.get(&(edge.from, edge.to)) {
            problems.push(Problem::DuplicateEdge {
                first,
                second: index,
            });
            continue;
        }
        seen_edges.insert((edge.from, edge.to), index);
        // The legitimate end of a wrong edge still counts as connected, so that one wrong
        // edge is one error and not also a "missing edge" on its other end.
        let out_of_sink = from.role == Role::Sink;
        let into_source = to.role == Role::Source;
        if out_of_sink {
            problems.push(Problem::EdgeOutOfSink { edge: index });
        } else {
            has_output[edge.from] = true;
        }
        if into_source {
            problems.push(Problem::EdgeIntoSource { edge: index });
        } else {
            has_input[edge.to] = true;
        }
        usable[index] = !out_of_sink && !into_source;
    }

    for (index, vertex) in vertices.iter().enumerate() {
        if vertex.role.takes_input() && !has_input[index] {
            problems.push(Problem::MissingInput { vertex: index });
        }
        if vertex.role.gives_output() && !has_output[index] {
            problems.push(Problem::MissingOutput { vertex: index });
        }
    }
    (problems, usable)
}
