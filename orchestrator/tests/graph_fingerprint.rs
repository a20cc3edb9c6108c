//! The topology fingerprint: `pipeline!` computes at compile time the value `OperatorGraph`
//! computes at run time, and every part of an edge changes it.

use sda_orchestrator::{
    EdgeOptions, Lane, OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SourceContext,
    pipeline,
};

const DEEP: usize = 2 * 64;

fn urgent(n: &u32) -> Lane {
    if *n == 0 {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

fn odd(n: &u32) -> bool {
    n % 2 == 1
}

fn source() -> impl FnMut(SourceContext<u32>) -> std::future::Ready<anyhow::Result<()>> {
    |_ctx| std::future::ready(Ok(()))
}

fn operator() -> impl FnMut(OperatorContext<u32, u32>) -> std::future::Ready<anyhow::Result<()>> {
    |_ctx| std::future::ready(Ok(()))
}

fn sink() -> impl FnMut(SinkContext<u32>) -> std::future::Ready<anyhow::Result<()>> {
    |_ctx| std::future::ready(Ok(()))
}

/// The graph of [`by_macro`], by hand, with one edge's options replaced by `last`.
fn by_hand(last: EdgeOptions) -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    let radar = graph.add_source("radar", RestartPolicy::default(), source());
    let isl = graph.add_source("isl", RestartPolicy::default(), source());
    let normalize = graph.add_operator("normalize", RestartPolicy::default(), operator());
    let archive = graph.add_sink("archive", RestartPolicy::Never, sink());
    let display = graph.add_sink("display", RestartPolicy::Never, sink());
    let rejects = graph.add_sink("rejects", RestartPolicy::Never, sink());
    graph
        .connect(&radar, &normalize)
        .connect_with(
            &isl,
            &normalize,
            EdgeOptions::new().capacity(16).priority(urgent),
        )
        .connect_with(&normalize, &archive, EdgeOptions::new().capacity(DEEP))
        .connect_with(&normalize, &display, EdgeOptions::new().broadcast(8))
        .connect_with(&normalize, &rejects, last.filter(odd));
    graph
}

fn by_macro() -> OperatorGraph {
    pipeline! {
        source radar = source();
        source isl = source();
        operator normalize = operator();
        sink archive = sink(), restart = RestartPolicy::Never;
        sink display = sink(), restart = RestartPolicy::Never;
        sink rejects = sink(), restart = RestartPolicy::Never;
        radar -> normalize;
        isl -> [capacity = 16, priority = urgent] normalize;
        normalize -> [capacity = DEEP] archive;
        normalize -> [broadcast = 8] display;
        normalize -> [filter = odd] rejects;
    }
}

#[test]
fn the_macro_computes_at_compile_time_what_the_builder_computes_at_run_time() {
    let declared = by_macro();
    let compiled = declared
        .declared_fingerprint()
        .expect("every capacity is a constant");
    assert_eq!(compiled, declared.fingerprint());
    assert_eq!(compiled, by_hand(EdgeOptions::new()).fingerprint());
    assert_eq!(by_hand(EdgeOptions::new()).declared_fingerprint(), None);
    let built = declared.build().unwrap();
    assert_eq!(built.fingerprint(), compiled);
    assert_eq!(built.topology().fingerprint, compiled);
    let json = serde_json::to_value(built.topology()).unwrap();
    assert_eq!(json["fingerprint"], compiled.to_hex());
    assert_eq!(json["edges"][0]["item"], "u32");
}

#[test]
fn changing_any_edge_changes_the_fingerprint() {
    let reference = by_hand(EdgeOptions::new()).fingerprint();
    assert_eq!(reference, by_hand(EdgeOptions::new()).fingerprint());
    // Capacity, kind and an edge more or less.
    assert_ne!(
        reference,
        by_hand(EdgeOptions::new().capacity(7)).fingerprint()
    );
    assert_ne!(
        reference,
        by_hand(EdgeOptions::new().broadcast(1024)).fingerprint()
    );
    let mut more = by_hand(EdgeOptions::new());
    let extra = more.add_sink("extra", RestartPolicy::Never, sink());
    assert_ne!(reference, more.fingerprint(), "a vertex more");
    let fewer = pipeline! {
        source radar = source();
        source isl = source();
        operator normalize = operator();
        sink archive = sink(), restart = RestartPolicy::Never;
        sink display = sink(), restart = RestartPolicy::Never;
        sink rejects = sink(), restart = RestartPolicy::Never;
        radar -> normalize;
        isl -> [capacity = 16, priority = urgent] normalize;
        normalize -> [capacity = DEEP] archive;
        normalize -> [broadcast = 8] display;
        normalize -> rejects;
    };
    assert_ne!(reference, fewer.fingerprint(), "an edge without its filter");
    assert_eq!(fewer.declared_fingerprint(), Some(fewer.fingerprint()));
    // The restart policy is tuning, not topology.
    let mut graph = OperatorGraph::new();
    let a = graph.add_source("a", RestartPolicy::Always, source());
    let b = graph.add_sink("b", RestartPolicy::Never, sink());
    graph.connect(&a, &b);
    let mut other = OperatorGraph::new();
    let a2 = other.add_source("a", RestartPolicy::Never, source());
    let b2 = other.add_sink("b", RestartPolicy::Never, sink());
    other.connect(&a2, &b2);
    assert_eq!(graph.fingerprint(), other.fingerprint());
    let _ = extra;
}

#[test]
fn a_capacity_that_is_not_a_constant_leaves_the_compile_time_fingerprint_out() {
    let depth = 32;
    let graph = pipeline! {
        source radar = source();
        sink archive = sink(), restart = RestartPolicy::Never;
        radar -> [capacity = depth] archive;
    };
    assert_eq!(graph.declared_fingerprint(), None);
    let mut by_hand = OperatorGraph::new();
    let radar = by_hand.add_source("radar", RestartPolicy::default(), source());
    let archive = by_hand.add_sink("archive", RestartPolicy::Never, sink());
    by_hand.connect_with(&radar, &archive, EdgeOptions::new().capacity(32));
    assert_eq!(graph.fingerprint(), by_hand.fingerprint());
}

#[test]
fn with_literal_and_default_capacities_the_macro_writes_the_same_fingerprint() {
    // Every capacity is a literal or the default, so the macro computes the fingerprint itself
    // (rather than leaving it to the compiler's constant evaluator): it must be the same value.
    let graph = pipeline! {
        source radar = source();
        source isl = source();
        operator normalize = operator();
        sink archive = sink(), restart = RestartPolicy::Never;
        sink display = sink(), restart = RestartPolicy::Never;
        sink rejects = sink(), restart = RestartPolicy::Never;
        radar -> normalize;
        isl -> [capacity = 16, priority = urgent] normalize;
        normalize -> [capacity = 1_024] archive;
        normalize -> [broadcast = 8] display;
        normalize -> [filter = odd] rejects;
    };
    let declared = graph
        .declared_fingerprint()
        .expect("every capacity is a literal or the default");
    assert_eq!(declared, graph.fingerprint());
    let mut by_hand = OperatorGraph::new();
    let radar = by_hand.add_source("radar", RestartPolicy::default(), source());
    let isl = by_hand.add_source("isl", RestartPolicy::default(), source());
    let normalize = by_hand.add_operator("normalize", RestartPolicy::default(), operator());
    let archive = by_hand.add_sink("archive", RestartPolicy::Never, sink());
    let display = by_hand.add_sink("display", RestartPolicy::Never, sink());
    let rejects = by_hand.add_sink("rejects", RestartPolicy::Never, sink());
    by_hand
        .connect(&radar, &normalize)
        .connect_with(
            &isl,
            &normalize,
            EdgeOptions::new().capacity(16).priority(urgent),
        )
        .connect_with(&normalize, &archive, EdgeOptions::new().capacity(1024))
        .connect_with(&normalize, &display, EdgeOptions::new().broadcast(8))
        .connect_with(&normalize, &rejects, EdgeOptions::new().filter(odd));
    assert_eq!(declared, by_hand.fingerprint());
    // A different literal gives a different value.
    let other = pipeline! {
        source radar = source();
        sink archive = sink(), restart = RestartPolicy::Never;
        radar -> [capacity = 7] archive;
    };
    let default = pipeline! {
        source radar = source();
        sink archive = sink(), restart = RestartPolicy::Never;
        radar -> archive;
    };
    assert_eq!(other.declared_fingerprint(), Some(other.fingerprint()));
    assert_eq!(default.declared_fingerprint(), Some(default.fingerprint()));
    assert_ne!(other.fingerprint(), default.fingerprint());
}
