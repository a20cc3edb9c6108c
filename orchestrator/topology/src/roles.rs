//! Pass 1: per-role validation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::{Edge, Endpoint, Problem, Role, Vertex};

/// Checks names, edge endpoints and roles. Returns every problem found and, per edge, whether it
/// is well-formed enough to take part in cycle detection: an edge that is already reported as
/// wrong is left out there so that one mistake yields one error, not a cascade.
pub(crate) fn validate(vertices: &[Vertex<'_>], edges: &[Edge]) -> (Vec<Problem>, Vec<bool>) {
    let mut problems = Vec::new();

    let mut by_name: HashMap<&str, usize, BuildHasherDefault<NameHasher>> =
        HashMap::with_capacity_and_hasher(vertices.len(), BuildHasherDefault::default());
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
    let duplicate_of = duplicates(vertices.len(), edges);
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
        if let Some(first) = duplicate_of[index] {
            problems.push(Problem::DuplicateEdge {
                first,
                second: index,
            });
            continue;
        }
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

/// For each edge, the earlier edge with the same ends if there is one. Edges with an end that is
/// not a vertex, and self-edges, are left out (reported otherwise).
///
/// Linear, without hashing: the edges are grouped by their `to` end (a counting sort), and within
/// each group, in declaration order, an array indexed by the `from` end remembers the first edge
/// seen from it. A hash set of pairs would touch a table as large as the edge list at random
/// places, which costs more than the rest of the check on graphs of 10^5 vertices.
fn duplicates(vertex_count: usize, edges: &[Edge]) -> Vec<Option<usize>> {
    let mut duplicate_of = vec![None; edges.len()];
    let counted = |e: &Edge| e.from < vertex_count && e.to < vertex_count && e.from != e.to;
    let mut start = vec![0usize; vertex_count + 1];
    for edge in edges.iter().filter(|e| counted(e)) {
        start[edge.to + 1] += 1;
    }
    for v in 0..vertex_count {
        start[v + 1] += start[v];
    }
    let mut next = start.clone();
    let mut by_to = vec![0usize; start[vertex_count]];
    for (index, edge) in edges.iter().enumerate().filter(|(_, e)| counted(e)) {
        by_to[next[edge.to]] = index;
        next[edge.to] += 1;
    }
    // `first[from]` is `(to + 1, edge)` for the first edge from `from` into the group `to`.
    let mut first: Vec<(usize, usize)> = vec![(0, 0); vertex_count];
    for to in 0..vertex_count {
        for &index in &by_to[start[to]..start[to + 1]] {
            let from = edges[index].from;
            match first[from] {
                (group, earlier) if group == to + 1 => duplicate_of[index] = Some(earlier),
                _ => first[from] = (to + 1, index),
            }
        }
    }
    duplicate_of
}

/// FxHash (as rustc uses it) for vertex names: names come from the program, not from an
/// adversary, so the DoS resistance of the default SipHash buys nothing here, and at 10^5
/// vertices its cost shows.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
