use super::*;

fn names<'a>(spec: &[(&'a str, Role)]) -> Vec<Vertex<'a>> {
    spec.iter().map(|&(n, r)| Vertex::new(n, r)).collect()
}

fn edges(pairs: &[(usize, usize)]) -> Vec<Edge> {
    pairs.iter().map(|&(a, b)| Edge::new(a, b)).collect()
}

fn messages(vertices: &[Vertex<'_>], edges: &[Edge]) -> Vec<String> {
    match check(vertices, edges) {
        Ok(order) => panic!("expected problems, got order {order:?}"),
        Err(problems) => problems
            .iter()
            .map(|p| p.message(vertices, edges))
            .collect(),
    }
}

use Role::{Operator as O, Sink as K, Source as S};

#[test]
fn linear_chain_is_ordered() {
    let v = names(&[("k", K), ("b", O), ("a", O), ("s", S)]);
    let e = edges(&[(3, 2), (2, 1), (1, 0)]);
    assert_eq!(check(&v, &e), Ok(vec![3, 2, 1, 0]));
}

#[test]
fn diamond_orders_every_vertex_after_its_inputs() {
    let v = names(&[("s", S), ("l", O), ("r", O), ("j", O), ("k", K)]);
    let e = edges(&[(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)]);
    let order = check(&v, &e).unwrap();
    let pos = |x: usize| order.iter().position(|&y| y == x).unwrap();
    for edge in &e {
        assert!(
            pos(edge.from) < pos(edge.to),
            "{edge:?} out of order in {order:?}"
        );
    }
}

#[test]
fn empty_graph_is_an_error() {
    assert_eq!(check(&[], &[]), Err(vec![Problem::Empty]));
}

#[test]
fn three_cycle_is_named_in_order_ending_with_the_last_declared_edge() {
    let v = names(&[("s", S), ("a", O), ("b", O), ("c", O), ("k", K)]);
    // s -> a -> b -> c -> a, c -> k; the closing edge c -> a is declared last.
    let e = edges(&[(0, 1), (1, 2), (2, 3), (3, 4), (3, 1)]);
    let problems = check(&v, &e).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].message(&v, &e),
        "cycle detected: a -> b -> c -> a"
    );
    assert_eq!(
        problems[0],
        Problem::Cycle {
            path: vec![1, 2, 3],
            closing_edge: 4
        }
    );
}

#[test]
fn cycle_listing_starts_after_the_closing_edge() {
    let v = names(&[("s", S), ("a", O), ("b", O), ("k", K)]);
    // b -> a is declared first; a -> b closes the cycle, so the listing ends with a -> b.
    let e = edges(&[(2, 1), (0, 1), (2, 3), (1, 2)]);
    let problems = check(&v, &e).unwrap_err();
    assert_eq!(problems[0].message(&v, &e), "cycle detected: b -> a -> b");
    assert_eq!(
        problems[0],
        Problem::Cycle {
            path: vec![2, 1],
            closing_edge: 3
        }
    );
}

#[test]
fn vertices_downstream_of_a_cycle_are_not_named() {
    let v = names(&[
        ("s", S),
        ("a", O),
        ("b", O),
        ("down1", O),
        ("down2", O),
        ("k", K),
    ]);
    let e = edges(&[(0, 1), (1, 2), (2, 1), (2, 3), (3, 4), (4, 5)]);
    assert_eq!(messages(&v, &e), vec!["cycle detected: a -> b -> a"]);
}

#[test]
fn two_separate_cycles_are_both_reported() {
    let v = names(&[("s", S), ("a", O), ("b", O), ("c", O), ("d", O), ("k", K)]);
    let e = edges(&[(0, 1), (1, 2), (2, 1), (2, 3), (3, 4), (4, 3), (4, 5)]);
    assert_eq!(
        messages(&v, &e),
        vec!["cycle detected: a -> b -> a", "cycle detected: c -> d -> c"]
    );
}

#[test]
fn missing_directions_are_named_and_all_reported() {
    let v = names(&[("s", S), ("dedup", O), ("lonely", O), ("k", K), ("idle", S)]);
    let e = edges(&[(0, 1), (2, 3)]);
    assert_eq!(
        messages(&v, &e),
        vec![
            "operator `dedup` has no outgoing edge",
            "operator `lonely` has no incoming edge",
            "source `idle` has no outgoing edge",
        ]
    );
}

#[test]
fn role_errors_do_not_cascade_into_missing_edges() {
    let v = names(&[("s", S), ("a", O), ("k", K)]);
    let e = edges(&[(0, 1), (1, 2), (1, 0), (2, 1)]);
    assert_eq!(
        messages(&v, &e),
        vec![
            "edge `a -> s` points into source `s`: sources have no inputs",
            "edge `k -> a` leaves sink `k`: sinks have no outputs",
        ]
    );
}

#[test]
fn self_edges_duplicates_and_unknown_endpoints_are_reported() {
    let v = names(&[("s", S), ("a", O), ("a", K)]);
    let e = edges(&[(0, 1), (1, 1), (1, 2), (1, 2), (0, 7)]);
    assert_eq!(
        messages(&v, &e),
        vec![
            "duplicate name `a`: every vertex needs its own name",
            "operator `a` has an edge to itself",
            "edge `a -> a` is declared twice",
            "edge #4 names an unknown downstream vertex",
        ]
    );
}

#[test]
fn long_chain_behind_a_cycle_does_not_overflow_the_stack() {
    let n = 200_000;
    let mut spec = vec![("s".to_owned(), S)];
    spec.extend((1..n).map(|i| (format!("v{i}"), O)));
    spec.push(("k".to_owned(), K));
    let v: Vec<Vertex<'_>> = spec.iter().map(|(n, r)| Vertex::new(n, *r)).collect();
    let mut e: Vec<Edge> = (0..n).map(|i| Edge::new(i, i + 1)).collect();
    e.push(Edge::new(2, 1));
    assert_eq!(messages(&v, &e), vec!["cycle detected: v1 -> v2 -> v1"]);
}

#[test]
fn every_repeat_of_an_edge_names_the_first_and_other_pairs_are_not_repeats() {
    // Repeats of (0, 2) far apart, interleaved with the reverse-looking (2, ..) and a pair that
    // shares only one end; a self-edge and an unknown end are not counted for repeats.
    let v = names(&[("s", S), ("t", S), ("a", O), ("k", K)]);
    let e = edges(&[
        (0, 2),
        (1, 2),
        (2, 3),
        (0, 2),
        (2, 2),
        (0, 9),
        (0, 2),
        (1, 3),
    ]);
    let problems = check(&v, &e).unwrap_err();
    let repeats: Vec<(usize, usize)> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::DuplicateEdge { first, second } => Some((*first, *second)),
            _ => None,
        })
        .collect();
    assert_eq!(repeats, [(0, 3), (0, 6)]);
    // Reported in declaration order among the other problems of the edges.
    assert!(matches!(
        problems[0],
        Problem::DuplicateEdge { second: 3, .. }
    ));
    assert!(matches!(problems[1], Problem::SelfEdge { edge: 4 }));
    assert!(matches!(
        problems[2],
        Problem::UnknownVertex { edge: 5, .. }
    ));
    assert!(matches!(
        problems[3],
        Problem::DuplicateEdge { second: 6, .. }
    ));
}
