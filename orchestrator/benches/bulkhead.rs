//! Bulkhead: does CPU-bound work starve the main runtime's I/O tasks, and does `DedicatedPool`
//! prevent it?
//!
//! Two latency-sensitive probes run as tasks on the main runtime (2 worker threads):
//!
//! * **ping**: a plain OS thread sends a timestamped ping every millisecond (like packets
//!   arriving on a socket); a task answers each one, and the delay from send to the task running
//!   is recorded. This is the headline figure: how long an I/O event waits for the runtime.
//! * **tick**: a task sleeps until a deadline 1 ms ahead, over and over, and records how late it
//!   wakes. Tokio's timer has a 1 ms resolution, so this figure is quantised: its floor is about
//!   1 ms, and a worker that parks mid-tick (because other tasks woke it) oversleeps by up to one
//!   more tick.
//!
//! Measured in one run, in five phases:
//!
//! * (a) unloaded;
//! * (b) 100 CPU-bound jobs running continuously as tasks on the main runtime;
//! * (c) the same 100 jobs submitted from the main runtime to a `DedicatedPool` (1 worker
//!   thread by default, so that on a 2-core machine one core stays free for the main runtime);
//! * (d) as (c), with the pool built with `PoolConfig::low_priority(true)`;
//! * (e) a control: as (c), but each job sleeps 2 ms instead of computing, so the main runtime
//!   sees the same completions and wake-ups without the CPU load.
//!
//! The machine is shared and its background load drifts, so the phases are interleaved: several
//! rounds of a to e, one second each, with the samples of each phase pooled across rounds.
//! Each job burns `JOB` of CPU without yielding, then yields and repeats.
//!
//! Run with `cargo bench -p sda-orchestrator --bench bulkhead`; pass `-- --quick` (or set
//! `BULKHEAD_QUICK=1`) for a short run, and `BULKHEAD_POOL_THREADS=n` to size the pool.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};

/// CPU time of one job slice.
const JOB: Duration = Duration::from_millis(2);
/// Concurrent CPU-bound jobs ("100x load").
const JOBS: usize = 100;
/// The probes' period.
const TICK: Duration = Duration::from_millis(1);

/// Iterations of `spin` that take about `JOB`, measured once at start-up.
fn calibrate() -> u64 {
    let mut iterations = 10_000u64;
    loop {
        let start = Instant::now();
        spin(iterations);
        let took = start.elapsed();
        if took >= Duration::from_millis(20) {
            let per_iteration = took.as_secs_f64() / iterations as f64;
            return (JOB.as_secs_f64() / per_iteration).max(1.0) as u64;
        }
        iterations *= 2;
    }
}

/// Pure CPU work the optimiser cannot remove.
fn spin(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..iterations {
        x = black_box(x.rotate_left(7) ^ i).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

/// Sleeps to successive 1 ms deadlines for `duration`, returning each wake-up's lateness.
async fn tick_probe(duration: Duration) -> Vec<Duration> {
    let end = tokio::time::Instant::now() + duration;
    let mut lateness = Vec::with_capacity(duration.as_millis() as usize);
    let mut deadline = tokio::time::Instant::now() + TICK;
    while deadline < end {
        tokio::time::sleep_until(deadline).await;
        let now = tokio::time::Instant::now();
        lateness.push(now - deadline);
        // Like `MissedTickBehavior::Delay`: a late wake-up is one sample, not a burst of them.
        deadline = deadline.max(now) + TICK;
    }
    lateness
}

/// Sends a ping every 1 ms for `duration` from a plain OS thread; returns, for each ping, how long
/// it waited before the answering task on the main runtime ran.
async fn ping_probe(duration: Duration) -> Vec<Duration> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    // The sender ends on its own after `duration`; dropping `tx` then closes the channel.
    std::thread::spawn(move || {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            std::thread::sleep(TICK);
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    let mut delays = Vec::with_capacity(duration.as_millis() as usize);
    while let Some(sent) = rx.recv().await {
        delays.push(sent.elapsed());
    }
    delays
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One phase's samples, pooled over the rounds.
struct Phase {
    name: &'static str,
    load: Load,
    ping: Vec<Duration>,
    tick: Vec<Duration>,
    jobs_done: u64,
}

/// Samples of one phase and round.
struct Samples {
    ping: Vec<Duration>,
    tick: Vec<Duration>,
    jobs_done: u64,
}

enum Load {
    None,
    MainRuntime,
    Pool(DedicatedPool),
    /// A control: the same traffic between the runtimes as `Pool`, but the jobs sleep instead of
    /// burning CPU. It separates what the main runtime pays for handling completions from what
    /// the CPU load costs.
    PoolSleeping(DedicatedPool),
}

/// Runs `load` for `duration` while both probes measure.
async fn run_phase(load: &Load, duration: Duration, iterations: u64) -> Samples {
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..JOBS {
        let stop = Arc::clone(&stop);
        match load {
            Load::None => {}
            Load::MainRuntime => workers.push(tokio::spawn(async move {
                let mut done = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    black_box(spin(iterations));
                    done += 1;
                    tokio::task::yield_now().await;
                }
                done
            })),
            Load::Pool(pool) | Load::PoolSleeping(pool) => {
                let pool = pool.clone();
                let sleep = matches!(load, Load::PoolSleeping(_));
                workers.push(tokio::spawn(async move {
                    let mut done = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let job = move || {
                            if sleep {
                                std::thread::sleep(JOB);
                            } else {
                                black_box(spin(iterations));
                            }
                        };
                        if pool.submit(job).await.is_ok() {
                            done += 1;
                        }
                    }
                    done
                }));
            }
        }
    }
    // Let the load reach its steady state before measuring.
    if !workers.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each probe is its own task, so that either can run on either worker.
    let ping = tokio::spawn(ping_probe(duration));
    let tick = tokio::spawn(tick_probe(duration));
    let (ping, tick) = (
        ping.await.unwrap_or_default(),
        tick.await.unwrap_or_default(),
    );
    stop.store(true, Ordering::Relaxed);
    let mut jobs_done = 0;
    for worker in workers {
        jobs_done += worker.await.unwrap_or(0);
    }
    Samples {
        ping,
        tick,
        jobs_done,
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var_os("BULKHEAD_QUICK").is_some_and(|v| v != "0");
    let pool_threads = std::env::var("BULKHEAD_POOL_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize);
    let rounds = if quick { 1 } else { 5 };
    let duration = Duration::from_secs(1);

    let iterations = calibrate();
    let main_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("main-rt")
        .enable_all()
        .build()
        .expect("the main runtime builds");
    let make_pool = |name: &str, low_priority: bool| {
        DedicatedPool::new(
            PoolConfig::new(name)
                .worker_threads(pool_threads)
                .max_in_flight(JOBS)
                .low_priority(low_priority),
        )
        .expect("the pool starts")
    };
    let pool = make_pool("bench-pool", false);
    let low_pool = make_pool("bench-low", true);

    let mut phases = [
        ("(a) unloaded", Load::None),
        ("(b) 100 CPU jobs on main runtime", Load::MainRuntime),
        (
            "(c) 100 CPU jobs on DedicatedPool",
            Load::Pool(pool.clone()),
        ),
        (
            "(d) same, pool at low OS priority",
            Load::Pool(low_pool.clone()),
        ),
        (
            "(e) control: pool jobs sleep 2 ms",
            Load::PoolSleeping(pool.clone()),
        ),
    ]
    .map(|(name, load)| Phase {
        name,
        load,
        ping: Vec::new(),
        tick: Vec::new(),
        jobs_done: 0,
    });
    main_runtime.block_on(async {
        for _ in 0..rounds {
            for phase in &mut phases {
                let samples = run_phase(&phase.load, duration, iterations).await;
                phase.ping.extend(samples.ping);
                phase.tick.extend(samples.tick);
                phase.jobs_done += samples.jobs_done;
            }
        }
    });
    main_runtime.block_on(async {
        let _ = pool.shutdown(Duration::from_secs(5)).await;
        let _ = low_pool.shutdown(Duration::from_secs(5)).await;
    });

    println!(
        "Bulkhead: main runtime with 2 workers; {rounds} round(s) of phases a to e, {} s each{}.",
        duration.as_secs(),
        if quick { " (quick)" } else { "" }
    );
    println!(
        "Load: {JOBS} jobs of {} ms CPU each, resubmitted continuously; DedicatedPool with {pool_threads} worker thread(s); {} CPUs.",
        JOB.as_millis(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!(
        "ping = delay before a task answers a ping from an OS thread; tick = lateness of a 1 ms sleep."
    );
    println!();
    println!(
        "| {:<34} | {:>7} | {:>8} | {:>8} | {:>9} | {:>9} | {:>8} | {:>8} | {:>9} | {:>9} |",
        "phase",
        "pings",
        "ping p50",
        "ping p99",
        "p50/(a)",
        "p99/(a)",
        "tick p50",
        "tick p99",
        "p99/(a)",
        "jobs done"
    );
    println!(
        "|{:-<36}|{:->9}|{:->10}|{:->10}|{:->11}|{:->11}|{:->10}|{:->10}|{:->11}|{:->11}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    let summaries = phases.map(|mut phase| {
        phase.ping.sort_unstable();
        phase.tick.sort_unstable();
        Summary {
            name: phase.name,
            pings: phase.ping.len(),
            ping_p50: percentile(&phase.ping, 50.0),
            ping_p99: percentile(&phase.ping, 99.0),
            tick_p50: percentile(&phase.tick, 50.0),
            tick_p99: percentile(&phase.tick, 99.0),
            jobs_done: phase.jobs_done,
        }
    });
    let ratio = |x: Duration, base: Duration| micros(x) / micros(base).max(1.0);
    let base = &summaries[0];
    for row in &summaries {
        println!(
            "| {:<34} | {:>7} | {:>5.0} us | {:>5.0} us | {:>8.2}x | {:>8.2}x | {:>5.0} us | {:>5.0} us | {:>8.2}x | {:>9} |",
            row.name,
            row.pings,
            micros(row.ping_p50),
            micros(row.ping_p99),
            ratio(row.ping_p50, base.ping_p50),
            ratio(row.ping_p99, base.ping_p99),
            micros(row.tick_p50),
            micros(row.tick_p99),
            ratio(row.tick_p99, base.tick_p99),
            row.jobs_done
        );
    }
}

/// The printed figures of one phase.
struct Summary {
    name: &'static str,
    pings: usize,
    ping_p50: Duration,
    ping_p99: Duration,
    tick_p50: Duration,
    tick_p99: Duration,
    jobs_done: u64,
}
