//! `build()` cost: a 10-operator topology warm and cold, and growth from 100 to 10,000
//! operators.
//!
//! Run: `cargo bench -p sda-orchestrator --bench build`

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group};
use sda_orchestrator::{OperatorContext, OperatorGraph, RestartPolicy, SinkContext};

/// A linear chain with `operators` operators between one source and one sink.
fn chain(operators: usize) -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    let source = graph.add_source("source", RestartPolicy::default(), |_ctx| async { Ok(()) });
    let mut previous = graph.add_operator("op0", RestartPolicy::default(), relay);
    graph.connect(&source, &previous);
    for i in 1..operators {
        let next = graph.add_operator(format!("op{i}"), RestartPolicy::default(), relay);
        graph.connect(&previous, &next);
        previous = next;
    }
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |_ctx: SinkContext<u64>| async { Ok(()) },
    );
    graph.connect(&previous, &sink);
    graph
}

async fn relay(_ctx: OperatorContext<u64, u64>) -> anyhow::Result<()> {
    Ok(())
}

fn bench_build(c: &mut Criterion) {
    // Cold: the first declaration and build in this process, before anything is warm.
    let started = Instant::now();
    let built = chain(10).build();
    let cold = started.elapsed();
    assert!(built.is_ok());
    println!("cold: first declare+build of a 10-operator chain in this process: {cold:?}");

    let mut group = c.benchmark_group("build");
    group.bench_function("10_operators_warm", |b| {
        b.iter_batched(
            || chain(10),
            |graph| black_box(graph.build()),
            BatchSize::SmallInput,
        )
    });
    for operators in [100usize, 1_000, 10_000] {
        group.bench_with_input(BenchmarkId::new("chain", operators), &operators, |b, &n| {
            b.iter_batched(
                || chain(n),
                |graph| black_box(graph.build()),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_build);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
