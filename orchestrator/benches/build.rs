//! `build()` cost and its growth with the graph's size.
//!
//! Three shapes at 10^2, 10^3, 10^4 and 10^5 vertices: a linear chain (source, operators,
//! sink), a wide fan-out (one source feeding every other vertex, each a sink), and a random DAG
//! (fixed seed; every vertex but the first takes an edge from up to 3 distinct earlier vertices,
//! so about 3 edges per vertex; a vertex without outgoing edges is a sink). Only `build()` is
//! timed: the declaration is set-up. Per size, the median of several builds; per shape, the
//! growth exponent fitted by least squares on log(time) against log(vertices). Also: a 10-vertex
//! chain warm (median of many) and cold (the first declaration and build in the process).
//!
//! Run: `cargo bench -p sda-orchestrator --bench build`; `SDA_BENCH_QUICK=1` for a short run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sda_orchestrator::{OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SourceContext};

async fn source(_ctx: SourceContext<u64>) -> anyhow::Result<()> {
    Ok(())
}

async fn relay(_ctx: OperatorContext<u64, u64>) -> anyhow::Result<()> {
    Ok(())
}

async fn sink(_ctx: SinkContext<u64>) -> anyhow::Result<()> {
    Ok(())
}

#[derive(Clone, Copy)]
enum Shape {
    Chain,
    FanOut,
    RandomDag,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::FanOut => "wide fan-out",
            Shape::RandomDag => "random DAG (~3 edges/vertex)",
        }
    }
}

/// A linear chain of `vertices` vertices.
fn chain(vertices: usize) -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    let first = graph.add_source("v0", RestartPolicy::default(), source);
    let mut previous = graph.add_operator("v1", RestartPolicy::default(), relay);
    graph.connect(&first, &previous);
    for i in 2..vertices - 1 {
        let next = graph.add_operator(format!("v{i}"), RestartPolicy::default(), relay);
        graph.connect(&previous, &next);
        previous = next;
    }
    let last = graph.add_sink(format!("v{}", vertices - 1), RestartPolicy::Never, sink);
    graph.connect(&previous, &last);
    graph
}

/// One source feeding `vertices - 1` sinks.
fn fan_out(vertices: usize) -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    let first = graph.add_source("v0", RestartPolicy::default(), source);
    for i in 1..vertices {
        let out = graph.add_sink(format!("v{i}"), RestartPolicy::Never, sink);
        graph.connect(&first, &out);
    }
    graph
}

/// A random DAG over `vertices` vertices with a fixed seed: each vertex but the first takes
/// an edge from up to 3 distinct earlier vertices.
fn random_dag(vertices: usize) -> (OperatorGraph, usize) {
    let mut rng = fastrand::Rng::with_seed(0x5DA_B11D);
    let mut edges: Vec<(usize, usize)> = Vec::with_capacity(3 * vertices);
    let mut has_output = vec![false; vertices];
    for to in 1..vertices {
        let mut from: Vec<usize> = Vec::with_capacity(3);
        while from.len() < 3.min(to) {
            let candidate = rng.usize(0..to);
            if !from.contains(&candidate) {
                from.push(candidate);
            }
        }
        for f in from {
            edges.push((f, to));
            has_output[f] = true;
        }
    }
    let mut graph = OperatorGraph::new();
    enum Handle {
        Source(sda_orchestrator::SourceHandle<u64>),
        Operator(sda_orchestrator::OperatorHandle<u64, u64>),
        Sink(sda_orchestrator::SinkHandle<u64>),
    }
    let handles: Vec<Handle> = (0..vertices)
        .map(|i| {
            let name = format!("v{i}");
            if i == 0 {
                Handle::Source(graph.add_source(name, RestartPolicy::default(), source))
            } else if has_output[i] {
                Handle::Operator(graph.add_operator(name, RestartPolicy::default(), relay))
            } else {
                Handle::Sink(graph.add_sink(name, RestartPolicy::Never, sink))
            }
        })
        .collect();
    for &(from, to) in &edges {
        match (&handles[from], &handles[to]) {
            (Handle::Source(a), Handle::Operator(b)) => {
                graph.connect(a, b);
            }
            (Handle::Source(a), Handle::Sink(b)) => {
                graph.connect(a, b);
            }
            (Handle::Operator(a), Handle::Operator(b)) => {
                graph.connect(a, b);
            }
            (Handle::Operator(a), Handle::Sink(b)) => {
                graph.connect(a, b);
            }
            _ => unreachable!("edges go from earlier vertices, which have outputs, to later ones"),
        }
    }
    (graph, edges.len())
}

fn declare(shape: Shape, vertices: usize) -> (OperatorGraph, usize) {
    match shape {
        Shape::Chain => (chain(vertices), vertices - 1),
        Shape::FanOut => (fan_out(vertices), vertices - 1),
        Shape::RandomDag => random_dag(vertices),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Times `runs` builds of freshly declared graphs; the median and the spread.
fn time_builds(
    shape: Shape,
    vertices: usize,
    runs: usize,
) -> (Duration, Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut edges = 0;
    for _ in 0..runs {
        let (graph, e) = declare(shape, vertices);
        edges = e;
        let started = Instant::now();
        let built = black_box(graph.build());
        times.push(started.elapsed());
        assert!(built.is_ok(), "the benchmark's graph builds");
        drop(built);
    }
    let (min, max) = (
        times.iter().copied().min().unwrap_or_default(),
        times.iter().copied().max().unwrap_or_default(),
    );
    (median(times), min, max, edges)
}

/// Least-squares slope of log(time) against log(vertices).
fn exponent(points: &[(usize, Duration)]) -> f64 {
    let xs: Vec<f64> = points.iter().map(|(n, _)| (*n as f64).ln()).collect();
    let ys: Vec<f64> = points.iter().map(|(_, t)| t.as_secs_f64().ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    cov / var
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some_and(|v| v != "0");
    // Cold: the first declaration and build in this process, before anything is warm.
    let started = Instant::now();
    let built = chain(10).build();
    let cold = started.elapsed();
    assert!(built.is_ok());
    drop(built);
    println!(
        "build: load average at start {}; cold (first declare + build of a 10-vertex chain in the process): {cold:.1?}",
        loadavg()
    );

    let warm_runs = if quick { 201 } else { 2001 };
    let (warm, min, max, _) = time_builds(Shape::Chain, 10, warm_runs);
    println!(
        "10-vertex chain, warm: median {warm:.2?} [{min:.2?} - {max:.2?}] over {warm_runs} builds"
    );

    let sizes = [100usize, 1_000, 10_000, 100_000];
    for shape in [Shape::Chain, Shape::FanOut, Shape::RandomDag] {
        let mut points = Vec::new();
        for &vertices in &sizes {
            let runs = match (quick, vertices) {
                (true, 100_000) => 3,
                (true, _) => 7,
                (false, 100_000) => 7,
                (false, 10_000) => 11,
                (false, _) => 31,
            };
            let (median, min, max, edges) = time_builds(shape, vertices, runs);
            println!(
                "{:<30} {vertices:>7} vertices {edges:>7} edges: median {median:>10.2?} [{min:.2?} - {max:.2?}] ({runs} builds), {:.2} us/vertex",
                shape.name(),
                median.as_secs_f64() * 1e6 / vertices as f64,
            );
            points.push((vertices, median));
        }
        println!(
            "{:<30} fitted exponent (log-log least squares, 10^2..10^5): {:.3}",
            shape.name(),
            exponent(&points)
        );
    }
    println!("build: load average at end {}", loadavg());
}
