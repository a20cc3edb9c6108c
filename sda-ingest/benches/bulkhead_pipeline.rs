//! The bulkhead in the real pipeline: the audit sink's source-to-write latency while the
//! correlator's propagation load grows.
//!
//! All eight sources replay a generated scenario in-process at `--rate 1` through the real
//! topology (`build_topology` over `Parts`) on the 2-worker main runtime. The correlator's
//! propagation load is multiplied by `CorrelatorConfig::work_factor`: 1× (one propagation per
//! observation, confirming its object hint), 100× (the target's load) and a stress load of
//! 3200× (as many propagations as 100 full-catalog searches; about a third of a core). Its
//! propagation runs either on the PropagatorPool (the service's `DedicatedPool`, low OS
//! priority, as `app::run` builds it) or inline on the main runtime
//! (`PropagatorRuntime::Inline`), the comparison without a bulkhead. An optional third runtime
//! is an experiment: the same pool with its workers moved from nice 19 to the `SCHED_IDLE`
//! policy. The audit sink is on the other branch of `dedup`'s fan-out, so it should not notice
//! the correlator's load. Latency: `written_at − received_at` of every `audit.jsonl` record.
//! The configurations are interleaved within each round; medians over rounds.
//!
//! `cargo bench -p sda-ingest --bench bulkhead_pipeline`. Knobs (environment):
//! `SDA_BENCH_ROUNDS` (default 3), `SDA_BENCH_RUN_S` (seconds per run, default 12),
//! `SDA_BENCH_LOADS` (comma-separated loaded work factors, default `100,3200`),
//! `SDA_BENCH_RATE` (default 1), `SDA_BENCH_IDLE` (set: also run the `SCHED_IDLE` pool).

mod common;

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use common::{Fixture, Latencies, median, runtime, scratch};
use sda_ingest::pipeline::operators::PropagatorRuntime;
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where the correlator's propagation runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    /// The PropagatorPool as `app::run` builds it: `low_priority(true)`, i.e. nice 19.
    Pool,
    /// The same pool with its workers moved to `SCHED_IDLE` (an experiment; see the report).
    IdlePool,
    /// Inline on the main runtime: no bulkhead.
    Inline,
}

impl Where {
    fn name(self) -> &'static str {
        match self {
            Where::Pool => "pool",
            Where::IdlePool => "pool+idle",
            Where::Inline => "inline",
        }
    }

    fn long_name(self) -> &'static str {
        match self {
            Where::Pool => "PropagatorPool (nice 19, as the service)",
            Where::IdlePool => "PropagatorPool, workers `SCHED_IDLE`",
            Where::Inline => "inline on the main runtime",
        }
    }
}

/// One configuration: where propagation runs and how much of it there is.
#[derive(Clone, Copy)]
struct Config {
    at: Where,
    work_factor: u32,
}

impl Config {
    fn name(self) -> String {
        format!("{}, load {}x", self.at.name(), self.work_factor)
    }
}

/// Moves every worker of `pool` (`workers` of them) to the `SCHED_IDLE` policy: one job per
/// worker, held at a barrier so that each lands on a different worker.
async fn make_idle(pool: &DedicatedPool, workers: usize) -> anyhow::Result<()> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(workers));
    let jobs = (0..workers).map(|_| {
        let (barrier, pool) = (barrier.clone(), pool.clone());
        async move {
            pool.submit(move || {
                let set = set_thread_priority_and_policy(
                    thread_native_id(),
                    ThreadPriority::Min,
                    ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
                );
                barrier.wait();
                set.map_err(|e| anyhow::anyhow!("cannot set SCHED_IDLE: {e:?}"))
            })
            .await
        }
    });
    for done in futures_join(jobs).await {
        done??;
    }
    Ok(())
}

/// Awaits every future of `jobs` concurrently.
async fn futures_join<F>(jobs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = jobs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// One run's figures.
struct Run {
    records: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    drain_s: f64,
    lossless: bool,
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = env("SDA_BENCH_ROUNDS", 3);
    let run_for = Duration::from_secs_f64(env("SDA_BENCH_RUN_S", 12.0));
    let loads: Vec<u32> = std::env::var("SDA_BENCH_LOADS")
        .unwrap_or_else(|_| "100,3200".into())
        .split(',')
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("SDA_BENCH_LOADS: {l:?} is not a work factor"))
        })
        .collect::<anyhow::Result<_>>()?;
    let with_idle = std::env::var_os("SDA_BENCH_IDLE").is_some();
    let rate: f64 = env("SDA_BENCH_RATE", 1.0);
    println!("load average at start: {:.2}", common::load_average());
    // One sweep every 10 s: enough records that no source runs dry within a run at rate 1.
    let fixture = Fixture::generate(10.0)?;
    println!(
        "scenario: {} objects, {} records; rate {rate}x ({:.0} obs/s offered), {:.0} s per run",
        fixture.catalog.len(),
        fixture.scenario.expected.messages,
        8.0 * sda_ingest::simulator::BASE_RECORDS_PER_S * rate,
        run_for.as_secs_f64(),
    );
    let wheres: &[Where] = if with_idle {
        &[Where::Pool, Where::Inline, Where::IdlePool]
    } else {
        &[Where::Pool, Where::Inline]
    };
    // Per runtime: 1× first (the base of its ratios), then each load.
    let group = 1 + loads.len();
    let configs: Vec<Config> = wheres
        .iter()
        .flat_map(|&at| {
            std::iter::once(1)
                .chain(loads.iter().copied())
                .map(move |work_factor| Config { at, work_factor })
        })
        .collect();
    let rt = runtime()?;
    let service_pool = || PoolConfig::new("propagator").low_priority(true);
    let pool = DedicatedPool::new(service_pool())?;
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let idle_pool = DedicatedPool::new(service_pool().worker_threads(workers))?;
    if with_idle {
        rt.block_on(make_idle(&idle_pool, workers))?;
    }
    let mut results: Vec<Vec<Run>> = configs.iter().map(|_| Vec::new()).collect();
    println!(
        "\n{:>5} {:<16} {:>8} {:>9} {:>9} {:>9} {:>8} {:>6}",
        "round", "config", "records", "p50 ms", "p99 ms", "max ms", "drain s", "loss"
    );
    for round in 0..rounds {
        // Rotate the order each round so that drift does not favour one configuration.
        for k in 0..configs.len() {
            let i = (k + round) % configs.len();
            let config = configs[i];
            let dir = scratch("bulkhead");
            let propagator = match config.at {
                Where::Pool => PropagatorRuntime::Pool(pool.clone()),
                Where::IdlePool => PropagatorRuntime::Pool(idle_pool.clone()),
                Where::Inline => PropagatorRuntime::Inline,
            };
            let parts = fixture.parts(rate, propagator, config.work_factor, &dir);
            let result = rt.block_on(common::run_orchestrated(parts, Some(run_for)))?;
            let latencies = Latencies::read(&dir)?;
            std::fs::remove_dir_all(&dir)?;
            let run = Run {
                records: latencies.ms.len(),
                p50_ms: latencies.quantile(0.5),
                p99_ms: latencies.quantile(0.99),
                max_ms: latencies.quantile(1.0),
                drain_s: (result.wall_s - run_for.as_secs_f64()).max(0.0),
                lossless: result.lossless(),
            };
            println!(
                "{round:>5} {:<16} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>8.2} {:>6}",
                config.name(),
                run.records,
                run.p50_ms,
                run.p99_ms,
                run.max_ms,
                run.drain_s,
                if run.lossless { "none" } else { "LOST" },
            );
            results[i].push(run);
        }
    }
    rt.block_on(pool.shutdown(Duration::from_secs(5)))?;
    rt.block_on(idle_pool.shutdown(Duration::from_secs(5)))?;

    let m = |runs: &[Run], f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "\nmedians of {rounds} rounds; ratio = loaded p99 ÷ unloaded p99 of the same runtime \
         (of the medians, and the median of the per-round ratios)"
    );
    println!(
        "| propagation | load | audit p50 | audit p99 | loaded / unloaded p99 | per round | lossless |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, config) in configs.iter().enumerate() {
        let (runs, base) = (&results[i], &results[i - i % group]);
        let per_round: Vec<f64> = runs
            .iter()
            .zip(base)
            .map(|(r, b)| r.p99_ms / b.p99_ms)
            .collect();
        println!(
            "| {} | {}x | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {}/{} |",
            config.at.long_name(),
            config.work_factor,
            m(runs, |r| r.p50_ms),
            m(runs, |r| r.p99_ms),
            m(runs, |r| r.p99_ms) / m(base, |r| r.p99_ms),
            median(&per_round),
            runs.iter().filter(|r| r.lossless).count(),
            runs.len(),
        );
    }
    println!("load average at end: {:.2}", common::load_average());
    Ok(())
}
