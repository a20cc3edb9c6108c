//! Pass 2: Kahn's topological sort, and Tarjan's strongly connected components over what Kahn
//! could not order, so that a cycle is reported without the vertices downstream of it.

use std::collections::VecDeque;

use crate::{Edge, Problem};

/// Outgoing adjacency in compressed form: the usable edges leaving vertex `v` are
/// `edges_of[start[v]..start[v + 1]]`, as indices into the caller's edge slice.
struct Adjacency {
    start: Vec<usize>,
    edges_of: Vec<usize>,
}

impl Adjacency {
    fn new(vertex_count: usize, edges: &[Edge], usable: &[bool]) -> Self {
        let mut start = vec![0usize; vertex_count + 1];
        for (edge, _) in edges.iter().zip(usable).filter(|(_, ok)| **ok) {
            start[edge.from + 1] += 1;
        }
        for v in 0..vertex_count {
            start[v + 1] += start[v];
        }
        let mut next = start.clone();
        let mut edges_of = vec![0usize; start[vertex_count]];
        for (index, (edge, _)) in edges
            .iter()
            .zip(usable)
            .enumerate()
            .filter(|(_, (_, ok))| **ok)
        {
            edges_of[next[edge.from]] = index;
            next[edge.from] += 1;
        }
        Adjacency { start, edges_of }
    }

    fn out(&self, v: usize) -> &[usize] {
        &self.edges_of[self.start[v]..self.start[v + 1]]
    }
}

/// Orders the vertices topologically using only the `usable` edges, or reports every cycle.
pub(crate) fn topological_order(
    vertex_count: usize,
    edges: &[Edge],
    usable: &[bool],
) -> Result<Vec<usize>, Vec<Problem>> {
    let adjacency = Adjacency::new(vertex_count, edges, usable);
    let mut indegree = vec![0usize; vertex_count];
    for (edge, _) in edges.iter().zip(usable).filter(|(_, ok)| **ok) {
        indegree[edge.to] += 1;
    }

    // Seeding the queue in declaration order makes the order deterministic.
    let mut ready: VecDeque<usize> = (0..vertex_count).filter(|&v| indegree[v] == 0).collect();
    let mut order = Vec::with_capacity(vertex_count);
    while let Some(v) = ready.pop_front() {
        order.push(v);
        for &e in adjacency.out(v) {
            let to = edges[e].to;
            indegree[to] -= 1;
            if indegree[to] == 0 {
                ready.push_back(to);
            }
        }
    }
    if order.len() == vertex_count {
        return Ok(order);
    }

    // Whatever still has an incoming edge lies on a cycle or downstream of one.
    let remaining: Vec<bool> = indegree.iter().map(|&d| d > 0).collect();
    let mut problems: Vec<Problem> = strongly_connected(&adjacency, edges, &remaining)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| cycle_in(&component, &adjacency, edges, vertex_count))
        .collect();
    problems.sort_by_key(|p| match p {
        Problem::Cycle { path, .. } => path.iter().copied().min().unwrap_or(usize::MAX),
        _ => usize::MAX,
    });
    Err(problems)
}

/// Tarjan's algorithm, iterative so that a long chain cannot overflow the stack. Only vertices
/// marked in `within` and edges between them are considered.
fn strongly_connected(adjacency: &Adjacency, edges: &[Edge], within: &[bool]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = within.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let mut counter = 0usize;
    let mut components = Vec::new();

    for root in (0..n).filter(|&v| within[v]) {
        if index[root] != UNVISITED {
            continue;
        }
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));

        while let Some((v, pos)) = calls.last_mut() {
            let v = *v;
            if let Some(&e) = adjacency.out(v).get(*pos) {
                *pos += 1;
                let w = edges[e].to;
                if !within[w] {
                    continue;
                }
                if index[w] == UNVISITED {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// Finds one simple cycle inside a strongly connected component: the shortest one through the
/// component's first-declared vertex (breadth-first), listed so that it ends with the edge that
/// was declared last, which is the edge that closed it.
fn cycle_in(
    component: &[usize],
    adjacency: &Adjacency,
    edges: &[Edge],
    vertex_count: usize,
) -> Problem {
    let mut member = vec![false; vertex_count];
    for &v in component {
        member[v] = true;
    }
    let start = component.iter().copied().min().unwrap_or(0);
    let mut parent_edge: Vec<Option<usize>> = vec![None; vertex_count];
    let mut queue = VecDeque::from([start]);
    let mut closing = None;
    'search: while let Some(v) = queue.pop_front() {
        for &e in adjacency.out(v) {
            let w = edges[e].to;
            if w == start {
                closing = Some(e);
                break 'search;
            }
            if member[w] && parent_edge[w].is_none() {
                parent_edge[w] = Some(e);
                queue.push_back(w);
            }
        }
    }

    // Walk back from the closing edge to the start to collect the cycle's edges in order. A
    // strongly connected component of two or more vertices always has a way back to `start`.
    let mut cycle_edges = Vec::new();
    if let Some(e) = closing {
        cycle_edges.push(e);
        let mut v = edges[e].from;
        while v != start {
            match parent_edge[v] {
                Some(pe) => {
                    cycle_edges.push(pe);
                    v = edges[pe].from;
                }
                None => break,
            }
        }
        cycle_edges.reverse();
    }

    let last = (0..cycle_edges.len())
        .max_by_key(|&i| cycle_edges[i])
        .unwrap_or(0);
    let shift = (last + 1) % cycle_edges.len().max(1);
    cycle_edges.rotate_left(shift);
    let path = cycle_edges.iter().map(|&e| edges[e].from).collect();
    Problem::Cycle {
        path,
        closing_edge: cycle_edges.last().copied().unwrap_or(0),
    }
}
