//! A graph declared with `pipeline!` is the graph the same builder calls make by hand, and
//! `build()` still rejects a bad graph that never went through the macro.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_orchestrator::graph::GraphErrorKind;
use sda_orchestrator::{
    EdgeOptions, OnStall, OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy, pipeline,
};
use ui_tests::{collect, discard, emit, map};

/// Fan-in, fan-out, a diamond, edge capacities and every kind of restart policy, written with
/// the edges before some of the declarations they use.
fn with_macro() -> OperatorGraph {
    pipeline! {
        source   radar     = emit(vec![1_u64, 2]), restart = RestartPolicy::bounded(5, Duration::from_secs(60));
        source   optical   = emit(vec![3_u64]);
        operator normalize = map(|n: u64| n);

        radar -> normalize;
        optical -> [capacity = 64] normalize;
        normalize -> validate -> [capacity = 256] dedup;
        normalize -> audit;
        dedup -> correlate -> alerts;
        dedup -> archive;

        operator validate  = map(|n: u64| n), restart = RestartPolicy::Always,
                             stall_after = Duration::from_secs(5), on_stall = restart;
        operator dedup     = map(|n: u64| n), restart = RestartPolicy::bounded(3, Duration::from_secs(60));
        operator correlate = map(|n: u64| format!("alert {n}"));
        sink     alerts    = discard::<String>(), restart = RestartPolicy::Never;
        sink     archive   = discard::<u64>(), restart = RestartPolicy::Never, on_stall = report,
                             stall_after = Duration::from_secs(90);
        sink     audit     = discard::<u64>();
    }
}

fn by_hand() -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    let radar = graph.add_source(
        "radar",
        RestartPolicy::bounded(5, Duration::from_secs(60)),
        emit(vec![1_u64, 2]),
    );
    let optical = graph.add_source("optical", RestartPolicy::default(), emit(vec![3_u64]));
    let normalize = graph.add_operator("normalize", RestartPolicy::default(), map(|n: u64| n));
    let validate = graph.add_operator("validate", RestartPolicy::Always, map(|n: u64| n));
    let dedup = graph.add_operator(
        "dedup",
        RestartPolicy::bounded(3, Duration::from_secs(60)),
        map(|n: u64| n),
    );
    let correlate = graph.add_operator(
        "correlate",
        RestartPolicy::default(),
        map(|n: u64| format!("alert {n}")),
    );
    let alerts = graph.add_sink("alerts", RestartPolicy::Never, discard::<String>());
    let archive = graph.add_sink("archive", RestartPolicy::Never, discard::<u64>());
    let audit = graph.add_sink("audit", RestartPolicy::default(), discard::<u64>());
    graph
        .stall_after(&validate, Duration::from_secs(5))
        .on_stall(&validate, OnStall::Restart)
        .on_stall(&archive, OnStall::Report)
        .stall_after(&archive, Duration::from_secs(90));
    graph
        .connect(&radar, &normalize)
        .connect_with(&optical, &normalize, EdgeOptions::new().capacity(64))
        .connect(&normalize, &validate)
        .connect_with(&validate, &dedup, EdgeOptions::new().capacity(256))
        .connect(&normalize, &audit)
        .connect(&dedup, &correlate)
        .connect(&correlate, &alerts)
        .connect(&dedup, &archive);
    graph
}

#[test]
fn macro_and_hand_built_graphs_have_equal_topologies() {
    let (from_macro, from_hand) = (with_macro().topology(), by_hand().topology());
    assert_eq!(from_macro, from_hand);
    assert_eq!(from_macro.to_mermaid(), from_hand.to_mermaid());
    assert_eq!(from_macro.vertices.len(), 9);
    let validate = &from_macro.vertices[3];
    assert_eq!(
        (
            validate.name.as_str(),
            validate.stall_after,
            validate.on_stall
        ),
        ("validate", Duration::from_secs(5), OnStall::Restart)
    );
    assert_eq!(from_macro.edges.len(), 8);
}

#[test]
fn macro_graph_builds() {
    assert!(with_macro().build().is_ok());
}

#[test]
fn build_still_rejects_a_hand_built_cycle() {
    let mut graph = OperatorGraph::new();
    let src = graph.add_source("src", RestartPolicy::default(), emit(vec![1_u64]));
    let a = graph.add_operator("a", RestartPolicy::default(), map(|n: u64| n));
    let b = graph.add_operator("b", RestartPolicy::default(), map(|n: u64| n));
    let c = graph.add_operator("c", RestartPolicy::default(), map(|n: u64| n));
    let out = graph.add_sink("out", RestartPolicy::default(), discard::<u64>());
    graph
        .connect(&src, &a)
        .connect(&a, &b)
        .connect(&b, &c)
        .connect(&c, &out)
        .connect(&c, &a);

    let Err(error) = graph.build() else {
        panic!("a cyclic graph built");
    };
    let messages: Vec<&str> = error.errors().iter().map(|e| e.message()).collect();
    assert_eq!(messages, ["cycle detected: a -> b -> c -> a"]);
    assert!(matches!(
        error.errors()[0].kind(),
        GraphErrorKind::Cycle { path } if path == &["a", "b", "c"]
    ));
}

#[test]
fn macro_graph_runs_to_completion() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let graph = pipeline! {
        source   a     = emit(vec![1_u64, 2, 3]);
        source   b     = emit(vec![10_u64, 20]);
        operator merge = map(|n: u64| n + 1);
        sink     out   = collect(Arc::clone(&seen)), restart = RestartPolicy::Never;

        a -> merge;
        b -> [capacity = 1] merge -> out;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(graph.build().unwrap().run(SupervisorPolicy::default()));
    assert_eq!(outcome, SupervisorEvent::CleanShutdown);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, [2, 3, 4, 11, 21]);
}
