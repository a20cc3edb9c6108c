//! Throughput of the orchestrator's edges against the same shapes hand-wired with plain tokio
//! channels, measured in the same run, the two alternating round by round (A/B, B/A, ...).
//!
//! Shapes: a 10-stage chain (source, 8 relays, sink), fan-in 8 -> 1, fan-out 1 -> 3, one
//! filtered edge (keeps even numbers), one priority edge (one item in 64 an emergency); each
//! moved one item at a time (`send` / `recv`) and in batches of 256 (`send_batch` /
//! `recv_many`). Every edge has capacity 1024. The hand-wired versions use the same
//! `try_send`-first path as the orchestrator (`try_send`, then `send().await` only when full);
//! their batched versions move `Vec<u64>` batches over `tokio::sync::mpsc`. The chain is also
//! run, batched, in timely dataflow (2 workers), as a peer, and in Hydro's dfir_rs (2 threads)
//! when `SDA_BENCH_DFIR` names the binary of `benches/peers/dfir-chain` (a crate outside the
//! workspace; see its `Cargo.toml`), which is then run once per round in the same interleaving.
//!
//! Each run declares, builds and runs its pipeline on a 2-worker multi-thread runtime; the
//! figures are medians over the rounds with min-max, and the ratio of medians (with the range of
//! the per-round ratios). Each row ends with the median CPU time of a run (all threads, from
//! `/proc/self/task/*/schedstat`), which a loaded machine moves less than the wall time.
//!
//! Run: `cargo bench -p sda-orchestrator --bench throughput`; `SDA_BENCH_QUICK=1` for a short
//! run (under a minute); `SDA_BENCH_ROUNDS=N` to choose the rounds; `SDA_BENCH_ONLY=text` to
//! run only the rows whose name (`chain, 10 stages batched`, ...) contains `text`.

#[path = "common/timely_chain.rs"]
mod timely_chain;

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use sda_orchestrator::{
    EdgeOptions, Lane, OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SourceContext,
    SupervisorPolicy,
};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

const CAPACITY: usize = 1024;
const BATCH: usize = 256;
const RELAYS: usize = 8;
const FAN_IN: usize = 8;
const FAN_OUT: usize = 3;
const EMERGENCY_EVERY: u64 = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Chain,
    FanIn,
    FanOut,
    Filtered,
    Priority,
}

impl Shape {
    const ALL: [Shape; 5] = [
        Shape::Chain,
        Shape::FanIn,
        Shape::FanOut,
        Shape::Filtered,
        Shape::Priority,
    ];

    fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain, 10 stages",
            Shape::FanIn => "fan-in 8 -> 1",
            Shape::FanOut => "fan-out 1 -> 3",
            Shape::Filtered => "filtered edge",
            Shape::Priority => "priority edge",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    PerMessage,
    Batched,
}

fn keep_even(n: &u64) -> bool {
    n.is_multiple_of(2)
}

fn classify(n: &u64) -> Lane {
    if n.is_multiple_of(EMERGENCY_EVERY) {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

/// What every sink adds up, so that the two sides can be checked against each other.
fn fold(sum: &AtomicU64, value: u64) {
    sum.fetch_add(value, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// Hand-wired: tokio mpsc, try_send first.

async fn push<T>(tx: &mpsc::Sender<T>, item: T) {
    match tx.try_send(item) {
        Ok(()) => {}
        Err(TrySendError::Full(item)) => {
            let _ = tx.send(item).await;
        }
        Err(TrySendError::Closed(_)) => {}
    }
}

/// The items of source `index` of `sources`, `n` items in all.
fn range(n: u64, index: usize, sources: usize) -> std::ops::Range<u64> {
    let per = n / sources as u64;
    let start = per * index as u64;
    let end = if index + 1 == sources { n } else { start + per };
    start..end
}

/// Sends the items of `range` one by one, or as `Vec` batches of `BATCH`.
fn batches(range: std::ops::Range<u64>) -> impl Iterator<Item = Vec<u64>> {
    let end = range.end;
    range
        .step_by(BATCH)
        .map(move |start| (start..(start + BATCH as u64).min(end)).collect())
}

async fn hand_wired(shape: Shape, mode: Mode, n: u64) -> u64 {
    let sum = Arc::new(AtomicU64::new(0));
    match mode {
        Mode::PerMessage => hand_per_message(shape, n, &sum).await,
        Mode::Batched => hand_batched(shape, n, &sum).await,
    }
    sum.load(Ordering::Relaxed)
}

async fn hand_per_message(shape: Shape, n: u64, sum: &Arc<AtomicU64>) {
    let mut sinks = Vec::new();
    let sink = |mut rx: mpsc::Receiver<u64>, sum: Arc<AtomicU64>| {
        tokio::spawn(async move {
            let mut local = 0;
            while let Some(v) = rx.recv().await {
                local += v;
            }
            fold(&sum, local);
        })
    };
    match shape {
        Shape::Chain => {
            let (tx, mut rx) = mpsc::channel::<u64>(CAPACITY);
            tokio::spawn(async move {
                for v in 0..n {
                    push(&tx, v).await;
                }
            });
            for _ in 0..RELAYS {
                let (next_tx, next_rx) = mpsc::channel::<u64>(CAPACITY);
                let mut input = std::mem::replace(&mut rx, next_rx);
                tokio::spawn(async move {
                    while let Some(v) = input.recv().await {
                        push(&next_tx, v).await;
                    }
                });
            }
            sinks.push(sink(rx, sum.clone()));
        }
        Shape::FanIn => {
            // The natural hand-wired fan-in: one channel, one sender per upstream.
            let (tx, rx) = mpsc::channel::<u64>(CAPACITY * FAN_IN);
            for index in 0..FAN_IN {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for v in range(n, index, FAN_IN) {
                        push(&tx, v).await;
                    }
                });
            }
            drop(tx);
            sinks.push(sink(rx, sum.clone()));
        }
        Shape::FanOut => {
            let mut txs = Vec::new();
            for _ in 0..FAN_OUT {
                let (tx, rx) = mpsc::channel::<u64>(CAPACITY);
                txs.push(tx);
                sinks.push(sink(rx, sum.clone()));
            }
            tokio::spawn(async move {
                for v in 0..n {
                    for tx in &txs {
                        push(tx, v).await;
                    }
                }
            });
        }
        Shape::Filtered => {
            let (tx, rx) = mpsc::channel::<u64>(CAPACITY);
            tokio::spawn(async move {
                for v in 0..n {
                    if keep_even(&v) {
                        push(&tx, v).await;
                    }
                }
            });
            sinks.push(sink(rx, sum.clone()));
        }
        Shape::Priority => {
            let (routine_tx, mut routine) = mpsc::channel::<u64>(CAPACITY);
            let (emergency_tx, mut emergency) = mpsc::channel::<u64>(CAPACITY);
            tokio::spawn(async move {
                for v in 0..n {
                    match classify(&v) {
                        Lane::Emergency => push(&emergency_tx, v).await,
                        Lane::Routine => push(&routine_tx, v).await,
                    }
                }
            });
            let sum = sum.clone();
            sinks.push(tokio::spawn(async move {
                let mut local = 0;
                while let Some(v) = recv_biased(&mut emergency, &mut routine).await {
                    local += v;
                }
                fold(&sum, local);
            }));
        }
    }
    for sink in sinks {
        let _ = sink.await;
    }
}

/// Takes from `emergency` before `routine`; `None` once both are closed and empty.
async fn recv_biased<T>(
    emergency: &mut mpsc::Receiver<T>,
    routine: &mut mpsc::Receiver<T>,
) -> Option<T> {
    poll_fn(|cx| {
        let urgent = emergency.poll_recv(cx);
        if let Poll::Ready(Some(item)) = urgent {
            return Poll::Ready(Some(item));
        }
        match routine.poll_recv(cx) {
            Poll::Ready(None) if urgent.is_pending() => Poll::Pending,
            other => other,
        }
    })
    .await
}

async fn hand_batched(shape: Shape, n: u64, sum: &Arc<AtomicU64>) {
    let mut sinks = Vec::new();
    let sink = |mut rx: mpsc::Receiver<Vec<u64>>, sum: Arc<AtomicU64>| {
        tokio::spawn(async move {
            let mut local = 0;
            while let Some(batch) = rx.recv().await {
                local += batch.iter().sum::<u64>();
            }
            fold(&sum, local);
        })
    };
    match shape {
        Shape::Chain => {
            let (tx, mut rx) = mpsc::channel::<Vec<u64>>(CAPACITY / BATCH);
            tokio::spawn(async move {
                for batch in batches(0..n) {
                    push(&tx, batch).await;
                }
            });
            for _ in 0..RELAYS {
                let (next_tx, next_rx) = mpsc::channel::<Vec<u64>>(CAPACITY / BATCH);
                let mut input = std::mem::replace(&mut rx, next_rx);
                tokio::spawn(async move {
                    while let Some(batch) = input.recv().await {
                        push(&next_tx, batch).await;
                    }
                });
            }
            sinks.push(sink(rx, sum.clone()));
        }
        Shape::FanIn => {
            let (tx, rx) = mpsc::channel::<Vec<u64>>(CAPACITY * FAN_IN / BATCH);
            for index in 0..FAN_IN {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for batch in batches(range(n, index, FAN_IN)) {
                        push(&tx, batch).await;
                    }
                });
            }
            drop(tx);
            sinks.push(sink(rx, sum.clone()));
        }
        Shape::FanOut => {
            let mut txs = Vec::new();
            for _ in 0..FAN_OUT {
                let (tx, rx) = mpsc::channel::<Vec<u64>>(CAPACITY / BATCH);
                txs.push(tx);
                sinks.push(sink(rx, sum.clone()));
            }
            tokio::spawn(async move {
                for batch in batches(0..n) {
                    let (last, rest) = txs.split_last().expect("fan-out has edges");
                    for tx in rest {
                        push(tx, batch.clone()).await;
                    }
                    push(last, batch).await;
                }
            });
        }
        Shape::Filtered => {
            let (tx, rx) = mpsc::channel::<Vec<u64>>(CAPACITY / BATCH);
            tokio::spawn(async move {
                for mut batch in batches(0..n) {
                    batch.retain(keep_even);
                    if !batch.is_empty() {
                        push(&tx, batch).await;
                    }
                }
            });
            sinks.push(sink(rx, sum.clone()));
        }
        Shape::Priority => {
            let (routine_tx, mut routine) = mpsc::channel::<Vec<u64>>(CAPACITY / BATCH);
            let (emergency_tx, mut emergency) = mpsc::channel::<Vec<u64>>(CAPACITY / BATCH);
            tokio::spawn(async move {
                for batch in batches(0..n) {
                    let (urgent, usual): (Vec<u64>, Vec<u64>) = batch
                        .into_iter()
                        .partition(|v| classify(v) == Lane::Emergency);
                    if !urgent.is_empty() {
                        push(&emergency_tx, urgent).await;
                    }
                    if !usual.is_empty() {
                        push(&routine_tx, usual).await;
                    }
                }
            });
            let sum = sum.clone();
            sinks.push(tokio::spawn(async move {
                let mut local = 0;
                while let Some(batch) = recv_biased(&mut emergency, &mut routine).await {
                    local += batch.iter().sum::<u64>();
                }
                fold(&sum, local);
            }));
        }
    }
    for sink in sinks {
        let _ = sink.await;
    }
}

// ---------------------------------------------------------------------------------------------
// Orchestrated: the same shapes as an `OperatorGraph`.

async fn run_source(
    mut ctx: SourceContext<u64>,
    items: std::ops::Range<u64>,
    mode: Mode,
) -> anyhow::Result<()> {
    match mode {
        Mode::PerMessage => {
            for v in items {
                ctx.output.send(v).await?;
            }
        }
        Mode::Batched => {
            for mut batch in batches(items) {
                ctx.output.send_batch(&mut batch).await?;
            }
        }
    }
    Ok(())
}

async fn relay(mut ctx: OperatorContext<u64, u64>, mode: Mode) -> anyhow::Result<()> {
    match mode {
        Mode::PerMessage => {
            while let Some(v) = ctx.input.recv().await {
                ctx.output.send(v).await?;
            }
        }
        Mode::Batched => {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, BATCH).await > 0 {
                ctx.output.send_batch(&mut batch).await?;
            }
        }
    }
    Ok(())
}

async fn run_sink(
    mut ctx: SinkContext<u64>,
    sum: Arc<AtomicU64>,
    mode: Mode,
) -> anyhow::Result<()> {
    let mut local = 0;
    match mode {
        Mode::PerMessage => {
            while let Some(v) = ctx.input.recv().await {
                local += v;
            }
        }
        Mode::Batched => {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, BATCH).await > 0 {
                local += batch.iter().sum::<u64>();
                batch.clear();
            }
        }
    }
    fold(&sum, local);
    Ok(())
}

async fn orchestrated(shape: Shape, mode: Mode, n: u64) -> u64 {
    let sum = Arc::new(AtomicU64::new(0));
    let mut graph = OperatorGraph::new();
    let never = RestartPolicy::Never;
    match shape {
        Shape::Chain => {
            let s = graph.add_source("source", never, move |ctx| run_source(ctx, 0..n, mode));
            let mut previous = graph.add_operator("relay0", never, move |ctx| relay(ctx, mode));
            graph.connect(&s, &previous);
            for i in 1..RELAYS {
                let next =
                    graph.add_operator(format!("relay{i}"), never, move |ctx| relay(ctx, mode));
                graph.connect(&previous, &next);
                previous = next;
            }
            let k = graph.add_sink("sink", never, {
                let sum = sum.clone();
                move |ctx| run_sink(ctx, sum.clone(), mode)
            });
            graph.connect(&previous, &k);
        }
        Shape::FanIn => {
            let k = graph.add_sink("sink", never, {
                let sum = sum.clone();
                move |ctx| run_sink(ctx, sum.clone(), mode)
            });
            for index in 0..FAN_IN {
                let s = graph.add_source(format!("source{index}"), never, move |ctx| {
                    run_source(ctx, range(n, index, FAN_IN), mode)
                });
                graph.connect(&s, &k);
            }
        }
        Shape::FanOut => {
            let s = graph.add_source("source", never, move |ctx| run_source(ctx, 0..n, mode));
            for index in 0..FAN_OUT {
                let k = graph.add_sink(format!("sink{index}"), never, {
                    let sum = sum.clone();
                    move |ctx| run_sink(ctx, sum.clone(), mode)
                });
                graph.connect(&s, &k);
            }
        }
        Shape::Filtered => {
            let s = graph.add_source("source", never, move |ctx| run_source(ctx, 0..n, mode));
            let k = graph.add_sink("sink", never, {
                let sum = sum.clone();
                move |ctx| run_sink(ctx, sum.clone(), mode)
            });
            graph.connect_with(&s, &k, EdgeOptions::new().filter(keep_even));
        }
        Shape::Priority => {
            let s = graph.add_source("source", never, move |ctx| run_source(ctx, 0..n, mode));
            let k = graph.add_sink("sink", never, {
                let sum = sum.clone();
                move |ctx| run_sink(ctx, sum.clone(), mode)
            });
            graph.connect_with(&s, &k, EdgeOptions::new().priority(classify));
        }
    }
    let built = graph.build().expect("the benchmark's graph builds");
    let outcome = built.run(SupervisorPolicy::default()).await;
    assert!(outcome.is_clean(), "{outcome:?}");
    sum.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Measurement.

fn expected(shape: Shape, n: u64) -> u64 {
    let all = n * (n - 1) / 2;
    match shape {
        Shape::FanOut => all * FAN_OUT as u64,
        Shape::Filtered => (0..n).filter(keep_even).sum(),
        _ => all,
    }
}

/// Runs `run`, checks it moved `want` items, and returns its wall time and the CPU time the
/// process spent meanwhile (every thread; see [`process_cpu_seconds`]).
fn timed<F: FnOnce() -> u64>(run: F, want: u64, what: &str) -> (Duration, f64) {
    let cpu = process_cpu_seconds();
    let started = Instant::now();
    let got = run();
    let spent = started.elapsed();
    let cpu = process_cpu_seconds() - cpu;
    assert_eq!(got, want, "{what} lost or duplicated items");
    (spent, cpu)
}

/// The CPU time the process's live threads have spent, in seconds, to the nanosecond: the sum
/// of the first field of `/proc/self/task/*/schedstat` (Linux; 0 elsewhere). The runtime's
/// workers live as long as the process, so the difference over a run is that run's CPU time,
/// which a loaded machine moves far less than its wall time (time spent waiting for a core
/// is not in it).
fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

struct Series {
    seconds: Vec<f64>,
}

impl Series {
    fn new() -> Self {
        Series {
            seconds: Vec::new(),
        }
    }

    fn median(&self) -> f64 {
        median(&mut self.seconds.clone())
    }

    fn min(&self) -> f64 {
        self.seconds.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.seconds.iter().copied().fold(0.0, f64::max)
    }
}

/// Runs the dfir_rs peer over `n` items; the seconds it measured itself.
fn run_dfir(binary: &std::path::Path, n: u64, want: u64) -> f64 {
    let output = std::process::Command::new(binary)
        .arg(n.to_string())
        .output()
        .expect("the dfir_rs peer runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    let seconds: f64 = fields
        .next()
        .and_then(|s| s.parse().ok())
        .expect("the dfir_rs peer prints its time");
    let sum: u64 = fields
        .next()
        .and_then(|s| s.parse().ok())
        .expect("the dfir_rs peer prints its sum");
    assert_eq!(sum, want, "dfir_rs lost or duplicated items");
    seconds
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1e3)
}

fn rate(items: u64, seconds: f64) -> String {
    format!("{:.1} M/s", items as f64 / seconds / 1e6)
}

fn main() {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some_and(|v| v != "0");
    let rounds: usize = std::env::var("SDA_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5 } else { 11 });
    let per_message_items: u64 = if quick { 100_000 } else { 400_000 };
    let batched_items: u64 = if quick { 2_000_000 } else { 16_000_000 };
    let dfir_binary = std::env::var_os("SDA_BENCH_DFIR").map(std::path::PathBuf::from);
    let runtime: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // Every edge is declared with the default capacity, which is the hand-wired channels'.
    assert_eq!(sda_orchestrator::graph::DEFAULT_EDGE_CAPACITY, CAPACITY);
    println!(
        "throughput: {rounds} rounds, A/B alternating; {per_message_items} items per message, {batched_items} batched (batches of {BATCH}); capacity {CAPACITY}; 2 workers; load average at start {}",
        loadavg()
    );

    // Warm-up: one run of each, not timed.
    for shape in Shape::ALL {
        for mode in [Mode::PerMessage, Mode::Batched] {
            runtime.block_on(hand_wired(shape, mode, 10_000));
            runtime.block_on(orchestrated(shape, mode, 10_000));
        }
    }
    timely_chain::run(10_000, RELAYS);

    // What a run costs besides its items: declaring, building, starting, draining and ending a
    // graph (or spawning and joining the hand-wired tasks), with 2 items.
    for shape in Shape::ALL {
        let mut fixed = (Series::new(), Series::new());
        for _ in 0..21 {
            let started = Instant::now();
            runtime.block_on(hand_wired(shape, Mode::PerMessage, 2));
            fixed.0.seconds.push(started.elapsed().as_secs_f64());
            let started = Instant::now();
            runtime.block_on(orchestrated(shape, Mode::PerMessage, 2));
            fixed.1.seconds.push(started.elapsed().as_secs_f64());
        }
        println!(
            "{:<17} fixed cost (2 items): hand-wired {:.1} us, orchestrated {:.1} us (medians of 21)",
            shape.name(),
            fixed.0.median() * 1e6,
            fixed.1.median() * 1e6
        );
    }

    let mut per_message_chain_hand = 0.0;
    for mode in [Mode::PerMessage, Mode::Batched] {
        for shape in Shape::ALL {
            let n = match mode {
                Mode::PerMessage => per_message_items,
                Mode::Batched => batched_items,
            };
            let mode_name = match mode {
                Mode::PerMessage => "per message",
                Mode::Batched => "batched",
            };
            if let Ok(only) = std::env::var("SDA_BENCH_ONLY")
                && !format!("{} {mode_name}", shape.name()).contains(&only)
            {
                continue;
            }
            let want = expected(shape, n);
            let (mut hand, mut orch, mut ratios) = (Series::new(), Series::new(), Vec::new());
            let (mut hand_cpu, mut orch_cpu) = (Series::new(), Series::new());
            let (mut peer, mut dfir) = (Series::new(), Series::new());
            for round in 0..rounds {
                let run_hand = || {
                    timed(
                        || runtime.block_on(hand_wired(shape, mode, n)),
                        want,
                        "hand-wired",
                    )
                };
                let run_orch = || {
                    timed(
                        || runtime.block_on(orchestrated(shape, mode, n)),
                        want,
                        "orchestrated",
                    )
                };
                let (h, o) = if round % 2 == 0 {
                    let h = run_hand();
                    (h, run_orch())
                } else {
                    let o = run_orch();
                    (run_hand(), o)
                };
                let ((h, h_cpu), (o, o_cpu)) = (h, o);
                hand.seconds.push(h.as_secs_f64());
                orch.seconds.push(o.as_secs_f64());
                hand_cpu.seconds.push(h_cpu);
                orch_cpu.seconds.push(o_cpu);
                ratios.push(h.as_secs_f64() / o.as_secs_f64());
                if shape == Shape::Chain && mode == Mode::Batched {
                    let started = Instant::now();
                    let got = timely_chain::run(n, RELAYS);
                    peer.seconds.push(started.elapsed().as_secs_f64());
                    assert_eq!(got, want, "timely lost or duplicated items");
                    if let Some(binary) = &dfir_binary {
                        dfir.seconds.push(run_dfir(binary, n, want));
                    }
                }
            }
            let ratio = hand.median() / orch.median();
            let spread = (median(&mut ratios.clone()), {
                let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let max = ratios.iter().copied().fold(0.0, f64::max);
                (min, max)
            });
            println!(
                "{:<17} {:<11} hand-wired {:>10} [{} - {}] {:>10} | orchestrated {:>10} [{} - {}] {:>10} | orchestrated/hand-wired throughput {:.3} (per round {:.2} - {:.2}) | cpu hand-wired {} orchestrated {}",
                shape.name(),
                mode_name,
                ms(hand.median()),
                ms(hand.min()),
                ms(hand.max()),
                rate(n, hand.median()),
                ms(orch.median()),
                ms(orch.min()),
                ms(orch.max()),
                rate(n, orch.median()),
                ratio,
                spread.1.0,
                spread.1.1,
                ms(hand_cpu.median()),
                ms(orch_cpu.median()),
            );
            if shape == Shape::Chain && mode == Mode::PerMessage {
                per_message_chain_hand = n as f64 / hand.median();
            }
            if shape == Shape::Chain && mode == Mode::Batched {
                let ours = n as f64 / orch.median();
                let theirs = n as f64 / peer.median();
                println!(
                    "{:<17} {:<11} timely (2 workers) {:>10} [{} - {}] {:>10} | orchestrated batched / timely {:.3}",
                    shape.name(),
                    "peer",
                    ms(peer.median()),
                    ms(peer.min()),
                    ms(peer.max()),
                    rate(n, peer.median()),
                    ours / theirs,
                );
                if !dfir.seconds.is_empty() {
                    println!(
                        "{:<17} {:<11} dfir_rs (2 threads) {:>10} [{} - {}] {:>10} | orchestrated batched / dfir_rs {:.3}",
                        shape.name(),
                        "peer",
                        ms(dfir.median()),
                        ms(dfir.min()),
                        ms(dfir.max()),
                        rate(n, dfir.median()),
                        ours / (n as f64 / dfir.median()),
                    );
                }
                println!(
                    "{:<17} {:<11} orchestrated batched / hand-wired per message: {:.1}x",
                    shape.name(),
                    "goal",
                    ours / per_message_chain_hand,
                );
            }
        }
    }
    println!("load average at end {}", loadavg());
}
