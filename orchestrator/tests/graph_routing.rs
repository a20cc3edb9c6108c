//! Filtered edges route each item only where it belongs, with nothing lost and nothing cloned
//! for an edge that does not keep it.

mod common;

use common::{collect, run_to_completion, send_all, store, taken};
use sda_orchestrator::{EdgeOptions, Lane, OperatorContext, OperatorGraph, RestartPolicy};

#[derive(Debug, Clone, PartialEq)]
enum Checked {
    Accepted(u32),
    Rejected(u32),
}

fn is_accepted(item: &Checked) -> bool {
    matches!(item, Checked::Accepted(_))
}

fn is_rejected(item: &Checked) -> bool {
    matches!(item, Checked::Rejected(_))
}

fn check(n: u32) -> Checked {
    if n.is_multiple_of(3) {
        Checked::Rejected(n)
    } else {
        Checked::Accepted(n)
    }
}

/// `numbers -> validate -> {archive (accepted), dead_letter (rejected), audit (everything)}`,
/// with `validate` sending one item at a time or in batches.
async fn route(batched: bool) {
    let (archive, dead, audit) = (store(), store(), store());
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_all((0..300u32).collect()),
    );
    let validate = graph.add_operator(
        "validate",
        RestartPolicy::Never,
        move |mut ctx: OperatorContext<u32, Checked>| async move {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 32).await > 0 {
                let mut checked: Vec<Checked> = batch.drain(..).map(check).collect();
                if batched {
                    ctx.output.send_batch(&mut checked).await?;
                } else {
                    for item in checked {
                        ctx.output.send(item).await?;
                    }
                }
            }
            Ok(())
        },
    );
    let a = graph.add_sink("archive", RestartPolicy::Never, collect(archive.clone()));
    let d = graph.add_sink("dead_letter", RestartPolicy::Never, collect(dead.clone()));
    let all = graph.add_sink("audit", RestartPolicy::Never, collect(audit.clone()));
    graph
        .connect(&s, &validate)
        .connect_with(
            &validate,
            &a,
            EdgeOptions::new().capacity(4).filter(is_accepted),
        )
        .connect_with(&validate, &d, EdgeOptions::new().filter(is_rejected))
        .connect(&validate, &all);
    let monitor = run_to_completion(graph).await;

    let expected_accepted: Vec<Checked> = (0..300)
        .filter(|n: &u32| !n.is_multiple_of(3))
        .map(Checked::Accepted)
        .collect();
    let expected_rejected: Vec<Checked> = (0..300)
        .filter(|n: &u32| n.is_multiple_of(3))
        .map(Checked::Rejected)
        .collect();
    assert_eq!(taken(&archive), expected_accepted);
    assert_eq!(taken(&dead), expected_rejected);
    assert_eq!(taken(&audit).len(), 300);

    let edges = monitor.snapshot().edges;
    let edge = |name: &str| edges.iter().find(|e| e.name == name).unwrap();
    assert_eq!(
        (
            edge("validate->archive").sent,
            edge("validate->archive").filtered
        ),
        (200, 100)
    );
    assert_eq!(
        (
            edge("validate->dead_letter").sent,
            edge("validate->dead_letter").filtered
        ),
        (100, 200)
    );
    assert_eq!(
        (
            edge("validate->audit").sent,
            edge("validate->audit").filtered
        ),
        (300, 0)
    );
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test]
async fn filtered_edges_route_single_sends() {
    route(false).await;
}

#[tokio::test]
async fn filtered_edges_route_batches() {
    route(true).await;
}

/// Numbers from 1000 up are urgent.
fn urgent(n: &u32) -> Lane {
    if *n >= 1000 {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

fn not_zero(n: &u32) -> bool {
    *n != 0
}

#[tokio::test(start_paused = true)]
async fn a_filter_combines_with_priority_lanes() {
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_all(vec![0u32, 1, 2, 1000]),
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph.connect_with(
        &s,
        &k,
        EdgeOptions::new()
            .capacity(8)
            .priority(urgent)
            .filter(not_zero),
    );
    let monitor = run_to_completion(graph).await;
    let mut got = taken(&out);
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 1000]);
    assert_eq!(monitor.snapshot().edges[0].filtered, 1);
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_filtered_before_priority_lanes_on_every_edge() {
    fn even(n: &u32) -> bool {
        n.is_multiple_of(2)
    }
    let (everything, nonzero, evens) = (store(), store(), store());
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        |mut ctx: sda_orchestrator::SourceContext<u32>| async move {
            let mut batch = vec![0u32, 1, 2, 1000, 1001];
            ctx.output.send_batch(&mut batch).await?;
            assert!(batch.is_empty(), "send_batch leaves the batch empty");
            Ok(())
        },
    );
    let a = graph.add_sink(
        "everything",
        RestartPolicy::Never,
        collect(everything.clone()),
    );
    let b = graph.add_sink("evens", RestartPolicy::Never, collect(evens.clone()));
    let c = graph.add_sink("nonzero", RestartPolicy::Never, collect(nonzero.clone()));
    // The filtered edges come first and last, so both the cloned copy and the original batch
    // are filtered.
    graph
        .connect_with(&s, &b, EdgeOptions::new().capacity(2).filter(even))
        .connect(&s, &a)
        .connect_with(
            &s,
            &c,
            EdgeOptions::new()
                .capacity(2)
                .priority(urgent)
                .filter(not_zero),
        );
    let monitor = run_to_completion(graph).await;
    let sorted = |store| {
        let mut got = taken(store);
        got.sort_unstable();
        got
    };
    assert_eq!(sorted(&everything), vec![0, 1, 2, 1000, 1001]);
    assert_eq!(sorted(&evens), vec![0, 2, 1000]);
    assert_eq!(sorted(&nonzero), vec![1, 2, 1000, 1001]);
    let edges = monitor.snapshot().edges;
    let edge = |name: &str| edges.iter().find(|e| e.name == name).unwrap().clone();
    let evens_edge = edge("numbers->evens");
    assert_eq!((evens_edge.sent, evens_edge.filtered), (3, 2));
    let nonzero_edge = edge("numbers->nonzero");
    assert_eq!(
        (
            nonzero_edge.sent,
            nonzero_edge.filtered,
            nonzero_edge.emergency
        ),
        (4, 1, 2)
    );
    assert_eq!(monitor.dropped_items(), 0);
}
