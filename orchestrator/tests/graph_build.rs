//! `build()` validation: every problem reported at once, each naming its operators.

mod common;

use sda_orchestrator::graph::GraphErrorKind;
use sda_orchestrator::{
    EdgeOptions, OperatorContext, OperatorGraph, OperatorHandle, RestartPolicy, SinkContext,
    SinkHandle, SourceHandle,
};

fn source(graph: &mut OperatorGraph, name: &str) -> SourceHandle<u32> {
    graph.add_source(name, RestartPolicy::default(), |_ctx| async { Ok(()) })
}

fn operator(graph: &mut OperatorGraph, name: &str) -> OperatorHandle<u32, u32> {
    graph.add_operator(
        name,
        RestartPolicy::default(),
        |_ctx: OperatorContext<u32, u32>| async { Ok(()) },
    )
}

fn sink(graph: &mut OperatorGraph, name: &str) -> SinkHandle<u32> {
    graph.add_sink(name, RestartPolicy::Never, |_ctx: SinkContext<u32>| async {
        Ok(())
    })
}

fn messages(graph: OperatorGraph) -> Vec<String> {
    match graph.build() {
        Ok(_) => panic!("the graph should not build"),
        Err(error) => error.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_valid_graph_builds() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let o = operator(&mut graph, "normalize");
    let k = sink(&mut graph, "archive");
    graph.connect(&s, &o).connect(&o, &k);
    let built = graph.build().expect("valid graph");
    assert_eq!(built.topology().vertices.len(), 3);
}

#[test]
fn a_cycle_is_named_in_order() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "src");
    let a = operator(&mut graph, "a");
    let b = operator(&mut graph, "b");
    let c = operator(&mut graph, "c");
    let k = sink(&mut graph, "out");
    graph
        .connect(&s, &a)
        .connect(&a, &b)
        .connect(&b, &c)
        .connect(&c, &k)
        .connect(&c, &a);
    let error = graph.build().unwrap_err();
    assert_eq!(error.to_string(), "cycle detected: a -> b -> c -> a");
    assert_eq!(
        error.errors()[0].kind(),
        &GraphErrorKind::Cycle {
            path: vec!["a".into(), "b".into(), "c".into()]
        }
    );
}

#[test]
fn vertices_downstream_of_a_cycle_are_not_named() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "src");
    let a = operator(&mut graph, "a");
    let b = operator(&mut graph, "b");
    let after1 = operator(&mut graph, "after1");
    let after2 = operator(&mut graph, "after2");
    let k = sink(&mut graph, "out");
    graph
        .connect(&s, &a)
        .connect(&a, &b)
        .connect(&b, &a)
        .connect(&b, &after1)
        .connect(&after1, &after2)
        .connect(&after2, &k);
    assert_eq!(messages(graph), vec!["cycle detected: a -> b -> a"]);
}

#[test]
fn a_disconnected_operator_is_named_with_the_missing_direction() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let dedup = operator(&mut graph, "dedup");
    let k = sink(&mut graph, "archive");
    graph.connect(&s, &dedup).connect(&s, &k);
    assert_eq!(
        messages(graph),
        vec!["operator `dedup` has no outgoing edge"]
    );
}

#[test]
fn two_problems_give_two_errors() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let _idle = source(&mut graph, "idle");
    let dedup = operator(&mut graph, "dedup");
    let _lonely = sink(&mut graph, "lonely");
    let k = sink(&mut graph, "archive");
    graph.connect(&s, &k).connect(&dedup, &k);
    let error = graph.build().unwrap_err();
    assert_eq!(
        error
            .errors()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        vec![
            "source `idle` has no outgoing edge",
            "operator `dedup` has no incoming edge",
            "sink `lonely` has no incoming edge",
        ]
    );
    assert!(error.to_string().starts_with("3 problems in the graph: "));
}

#[test]
fn names_self_edges_duplicates_and_zero_capacity_together() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let a = operator(&mut graph, "a");
    let twin = operator(&mut graph, "a");
    let k = sink(&mut graph, "archive");
    graph
        .connect(&s, &a)
        .connect(&a, &a)
        .connect(&a, &k)
        .connect(&s, &twin)
        .connect_with(&twin, &k, EdgeOptions::new().capacity(0))
        .connect(&s, &a);
    assert_eq!(
        messages(graph),
        vec![
            "edge `a -> archive` has capacity 0: an edge must hold at least one item",
            "duplicate name `a`: every vertex needs its own name",
            "operator `a` has an edge to itself",
            "edge `radar -> a` is declared twice",
            "operator `a` has no outgoing edge",
        ]
    );
}

#[test]
fn a_handle_from_another_graph_is_rejected() {
    let mut other = OperatorGraph::new();
    let foreign = source(&mut other, "foreign");
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let k = sink(&mut graph, "archive");
    graph.connect(&s, &k).connect(&foreign, &k);
    assert_eq!(
        messages(graph),
        vec!["edge #1 uses a handle that belongs to another graph"]
    );
}

#[test]
fn an_empty_graph_is_rejected() {
    assert_eq!(
        messages(OperatorGraph::new()),
        vec!["pipeline is empty: declare at least one source and one sink"]
    );
}

#[test]
fn topology_lists_the_declared_structure_and_draws_mermaid() {
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let k = sink(&mut graph, "archive");
    graph.connect_with(&s, &k, EdgeOptions::new().capacity(8));
    let topology = graph.topology();
    assert_eq!(topology.edges[0].capacity, 8);
    assert_eq!(topology.edges[0].from, "radar");
    assert_eq!(
        topology.to_mermaid(),
        "flowchart LR\n    v0[/\"radar\"/]\n    v1[(\"archive\")]\n    v0 -->|8| v1\n"
    );
    let json = serde_json::to_value(&topology).unwrap();
    assert_eq!(json["vertices"][0]["role"], "source");
    assert_eq!(json["vertices"][1]["restart"]["kind"], "never");
}

#[test]
fn topology_describes_edge_kinds_and_filters() {
    fn urgent(n: &u32) -> sda_orchestrator::Lane {
        if *n > 100 {
            sda_orchestrator::Lane::Emergency
        } else {
            sda_orchestrator::Lane::Routine
        }
    }
    fn odd(n: &u32) -> bool {
        n % 2 == 1
    }
    let mut graph = OperatorGraph::new();
    let s = source(&mut graph, "radar");
    let o = operator(&mut graph, "process");
    let k = sink(&mut graph, "archive");
    let v = sink(&mut graph, "view");
    graph
        .connect_with(&s, &o, EdgeOptions::new().capacity(64).priority(urgent))
        .connect_with(&o, &k, EdgeOptions::new().capacity(8).filter(odd))
        .connect_with(&o, &v, EdgeOptions::new().broadcast(16));
    let topology = graph.topology();
    let kinds: Vec<(&str, bool)> = topology
        .edges
        .iter()
        .map(|e| (e.kind, e.filtered))
        .collect();
    assert_eq!(
        kinds,
        [("priority", false), ("plain", true), ("broadcast", false)]
    );
    let mermaid = topology.to_mermaid();
    assert!(mermaid.contains("v0 -->|64 priority| v1"), "{mermaid}");
    assert!(mermaid.contains("v1 -->|8 filtered| v2"), "{mermaid}");
    assert!(mermaid.contains("v1 -.->|16 broadcast| v3"), "{mermaid}");
    assert!(graph.build().is_ok());
}
