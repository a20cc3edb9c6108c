//! The bulkhead in the real pipeline, its load stated in cores: the audit path's open-loop
//! latency while the correlator burns 0, 0.25, 0.5 or 1.0 core of SGP4 work, on the
//! PropagatorPool or inline on the main runtime, in one run.
//!
//! The real topology (`build_topology` over `Parts`) runs in this process on the 2-worker main
//! runtime, its radar, ISL and optical sources on real loopback sockets fed by the load
//! generator of `common/loadgen.rs` (threads of this process; the five in-process simulated
//! sources are given empty streams). Every record is stamped with its scheduled send time and
//! its latency read when its line appears in `audit.jsonl` (the tailer, same monotonic clock);
//! the first second of each run is a warm-up, not measured. The audit sink is on the other
//! branch of `dedup`'s fan-out from the correlator, so ideally it does not notice the load.
//!
//! **The load in cores.** `CorrelatorConfig::work_factor` adds `work_factor − 1` SGP4
//! propagations per observation. The harness first times one propagation on this machine (a
//! single thread, the median of 5 timings) and picks the work factor that makes `cores` of
//! propagation at the offered rate; it also reports the CPU the run actually took beyond the
//! unloaded run of the same round. Propagation runs on the PropagatorPool as `app::run` builds
//! it (`DedicatedPool`, `low_priority(true)`: nice 19) or inline on the main runtime
//! (`PropagatorRuntime::Inline`: no bulkhead). Configurations are interleaved, the order
//! rotating each round, after one warm-up run that is not recorded.
//!
//! `cargo bench -p sda-ingest --bench bulkhead_pipeline`. Knobs (environment):
//! `SDA_BENCH_QUICK=1` (1 round of 2 s: under a minute), `SDA_BENCH_ROUNDS` (default 5),
//! `SDA_BENCH_RUN_S` (seconds of load per run, default 10), `SDA_BENCH_RATE` (offered obs/s,
//! default 6000), `SDA_BENCH_CORES` (comma-separated loads, default `0.25,0.5,1.0`),
//! `SDA_BENCH_IDLE` (set: also a pool whose workers run under `SCHED_IDLE`), `SDA_BENCH_JOBS`
//! (the correlator's `jobs`, default the service's: the CPUs less one), `SDA_BENCH_POOL_NORMAL`
//! (set: the pool at normal priority instead of the service's nice 19).

mod common;

#[path = "common/loadgen.rs"]
mod loadgen;

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use loadgen::{Peers, Records, TailClock};
use sda_ingest::pipeline::operators::{PropagatorRuntime, associate_batch};
use sda_ingest::pipeline::{Delivered, build_topology};
use sda_ingest::transport::{
    IslLink, IslTransport, OpticalPollerConfig, RadarSocket, RadarTransport, Transports,
};
use sda_ingest_core::process::normalize::normalize;
use sda_ingest_core::wire::{WireFormat, decode};
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};

use common::{Fixture, median, runtime};

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
    /// The same pool with its workers moved to `SCHED_IDLE` (an experiment).
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

/// One configuration: where propagation runs and how many cores of it there are.
#[derive(Clone, Copy)]
struct Config {
    at: Where,
    cores: f64,
    work_factor: u32,
}

/// One run's figures.
struct Run {
    hist: Histogram<u64>,
    cpu_s: f64,
    lossless: bool,
    drain_s: f64,
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let rounds: usize = env("SDA_BENCH_ROUNDS", if quick { 1 } else { 5 });
    let run_s: f64 = env("SDA_BENCH_RUN_S", if quick { 2.0 } else { 10.0 });
    let rate: f64 = env("SDA_BENCH_RATE", 6000.0);
    let loads: Vec<f64> = std::env::var("SDA_BENCH_CORES")
        .unwrap_or_else(|_| "0.25,0.5,1.0".into())
        .split(',')
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("SDA_BENCH_CORES: {l:?} is not a number"))
        })
        .collect::<anyhow::Result<_>>()?;
    let with_idle = std::env::var_os("SDA_BENCH_IDLE").is_some();
    println!("load average at start: {:.2}", common::load_average());
    let fixture = Fixture::generate(1.0)?;
    let records = Arc::new(Records::from_streams(
        &fixture.scenario.streams,
        &fixture.registry,
    )?);
    let propagation_us = time_propagation(&fixture)?;
    let work_factor = |cores: f64| -> u32 {
        if cores <= 0.0 {
            1
        } else {
            1 + (cores * 1e6 / (rate * propagation_us)).round() as u32
        }
    };
    println!(
        "correlator jobs: {}",
        std::env::var("SDA_BENCH_JOBS").unwrap_or_else(|_| "the service's default".into())
    );
    println!(
        "one SGP4 propagation: {propagation_us:.3} µs; offered {rate:.0} obs/s over radar (UDP), \
         ISL (TCP) and optical (HTTP); {run_s} s per run after 1 s of warm-up, {rounds} rounds"
    );
    let mut wheres = vec![Where::Pool, Where::Inline];
    if with_idle {
        wheres.push(Where::IdlePool);
    }
    let mut configs = vec![Config {
        at: Where::Pool,
        cores: 0.0,
        work_factor: 1,
    }];
    for &at in &wheres {
        for &cores in &loads {
            configs.push(Config {
                at,
                cores,
                work_factor: work_factor(cores),
            });
        }
    }
    let rt = runtime()?;
    // The service's pool runs at nice 19; `SDA_BENCH_POOL_NORMAL` runs it at normal priority
    // (an experiment: the pool then competes with the I/O runtime, but is not starved by other
    // processes on a shared machine).
    let low = std::env::var_os("SDA_BENCH_POOL_NORMAL").is_none();
    let service_pool = || PoolConfig::new("propagator").low_priority(low);
    println!(
        "pool priority: {}",
        if low {
            "nice 19 (the service)"
        } else {
            "normal"
        }
    );
    let pool = DedicatedPool::new(service_pool())?;
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let idle_pool = DedicatedPool::new(service_pool().worker_threads(workers))?;
    if with_idle {
        rt.block_on(make_idle(&idle_pool, workers))?;
    }
    let runtime_of = |at: Where| match at {
        Where::Pool => PropagatorRuntime::Pool(pool.clone()),
        Where::IdlePool => PropagatorRuntime::Pool(idle_pool.clone()),
        Where::Inline => PropagatorRuntime::Inline,
    };
    // Warm-up: one unrecorded run with the heaviest load on the pool.
    let heaviest = loads.iter().copied().fold(0.0, f64::max);
    run_once(
        &rt,
        &fixture,
        &records,
        runtime_of(Where::Pool),
        work_factor(heaviest),
        rate,
        run_s.min(3.0),
    )?;
    let mut results: Vec<Vec<Run>> = configs.iter().map(|_| Vec::new()).collect();
    println!(
        "\n{:>5} {:<12} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6}",
        "round",
        "config",
        "factor",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "cpu s",
        "drain",
        "loss"
    );
    for round in 0..rounds {
        for k in 0..configs.len() {
            let i = (k + round) % configs.len();
            let c = configs[i];
            let run = run_once(
                &rt,
                &fixture,
                &records,
                runtime_of(c.at),
                c.work_factor,
                rate,
                run_s,
            )?;
            let q = |q: f64| run.hist.value_at_quantile(q) as f64 / 1e3;
            println!(
                "{round:>5} {:<12} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>6}",
                format!("{} {:.2}", c.at.name(), c.cores),
                c.work_factor,
                q(0.5),
                q(0.99),
                q(0.999),
                run.hist.max() as f64 / 1e3,
                run.cpu_s,
                run.drain_s,
                if run.lossless { "none" } else { "LOST" },
            );
            results[i].push(run);
        }
    }
    rt.block_on(pool.shutdown(Duration::from_secs(5)))?;
    rt.block_on(idle_pool.shutdown(Duration::from_secs(5)))?;

    println!(
        "\nall rounds' histograms merged; ratio = p99 ÷ the unloaded p99 (merged), and the \
         median [min–max] of the per-round ratios; extra CPU = the run's process CPU less the \
         unloaded run's of the same round, over the run's length"
    );
    println!(
        "| propagation | load (cores of SGP4) | work factor | extra CPU measured (cores) | audit p50 | audit p99 | p99.9 | max | p99 ÷ unloaded | per round | lossless |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let base = &results[0];
    let mut base_hist = loadgen::histogram();
    for r in base {
        base_hist.add(&r.hist)?;
    }
    let base_p99 = base_hist.value_at_quantile(0.99) as f64;
    for (i, c) in configs.iter().enumerate() {
        let runs = &results[i];
        let mut hist = loadgen::histogram();
        for r in runs {
            hist.add(&r.hist)?;
        }
        let mut per_round: Vec<f64> = runs
            .iter()
            .zip(base)
            .map(|(r, b)| {
                r.hist.value_at_quantile(0.99) as f64 / b.hist.value_at_quantile(0.99) as f64
            })
            .collect();
        per_round.sort_by(f64::total_cmp);
        let extra: Vec<f64> = runs
            .iter()
            .zip(base)
            .map(|(r, b)| (r.cpu_s - b.cpu_s) / (run_s + 1.0))
            .collect();
        let q = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
        println!(
            "| {} | {:.2} | {} | {:.2} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} ms | **{:.2}** | {:.2} [{:.2}–{:.2}] | {}/{} |",
            if c.cores == 0.0 {
                "none (the service, unloaded)"
            } else {
                c.at.long_name()
            },
            c.cores,
            c.work_factor,
            median(&extra),
            q(0.5),
            q(0.99),
            q(0.999),
            hist.max() as f64 / 1e3,
            hist.value_at_quantile(0.99) as f64 / base_p99,
            median(&per_round),
            per_round.first().copied().unwrap_or(f64::NAN),
            per_round.last().copied().unwrap_or(f64::NAN),
            runs.iter().filter(|r| r.lossless).count(),
            runs.len(),
        );
    }
    println!("load average at end: {:.2}", common::load_average());
    Ok(())
}

/// One SGP4 propagation's cost on this machine, µs of CPU: association of a batch of
/// observations with `work_factor` 1 and 1 + 3000 (about a second of work), the difference per
/// extra propagation, timed in this thread's CPU time (so that other processes taking the core
/// do not inflate it); median of 3.
fn time_propagation(fixture: &Fixture) -> anyhow::Result<f64> {
    let registry = &fixture.registry;
    let batch: Vec<Arc<Delivered>> = fixture
        .scenario
        .streams
        .radar
        .iter()
        .take(500)
        .flat_map(|bytes| decode(WireFormat::Radar, bytes).records)
        .map(|r| Delivered::new(normalize(&r, registry)).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let catalog = fixture.shared_catalog().current();
    const EXTRA: u32 = 3000;
    let mut samples = Vec::new();
    for _ in 0..3 {
        let mut config = fixture.correlator(1);
        let t = common::thread_self_cpu_seconds();
        std::hint::black_box(associate_batch(&batch, catalog.objects(), &config));
        let one = common::thread_self_cpu_seconds() - t;
        config.work_factor = 1 + EXTRA;
        let t = common::thread_self_cpu_seconds();
        std::hint::black_box(associate_batch(&batch, catalog.objects(), &config));
        let many = common::thread_self_cpu_seconds() - t;
        samples.push((many - one) / (f64::from(EXTRA) * batch.len() as f64) * 1e6);
    }
    Ok(median(&samples))
}

/// Runs the pipeline in this process with its network sources fed by the load generator for
/// `run_s` at `rate`, then drains it.
fn run_once(
    rt: &tokio::runtime::Runtime,
    fixture: &Fixture,
    records: &Arc<Records>,
    propagator: PropagatorRuntime,
    work_factor: u32,
    rate: f64,
    run_s: f64,
) -> anyhow::Result<Run> {
    let dir = common::scratch("bulkhead");
    let threads_before = common::thread_cpu_seconds();
    let mut parts = fixture.parts(1.0, propagator, work_factor, &dir);
    if let Some(jobs) = std::env::var("SDA_BENCH_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
    {
        parts.correlator.jobs = jobs;
    }
    // Only the load generator's records: the in-process simulated sources get nothing to send.
    let mut streams = (*fixture.streams).clone();
    streams.synthetic = BTreeMap::new();
    parts.streams = Arc::new(streams);
    let socket = {
        let _guard = rt.enter();
        RadarSocket::bind(
            ([127, 0, 0, 1], 0).into(),
            RadarSocket::DEFAULT_RECV_BUFFER,
            Vec::new(),
        )?
    };
    let peers = Peers::start(records.clone(), socket.local_addr()?)?;
    parts.transports = Transports {
        radar: Some(RadarTransport {
            socket,
            finish_after: None,
        }),
        isl: Some(IslTransport {
            addr: peers.isl_addr()?,
            finish_after: None,
            link: IslLink::default(),
        }),
        optical: Some(OpticalPollerConfig::new(reqwest::Url::parse(
            &peers.optical_url(),
        )?)),
    };
    common::prepare_out_dir(&dir)?;
    let started = Instant::now();
    let built = build_topology(&parts).build()?;
    let shutdown = built.shutdown_handle();
    let running = rt.spawn(async move {
        common::run_built(&parts, built, common::service_policy(), None, started).await
    });
    let clock = Arc::new(TailClock {
        schedules: std::sync::OnceLock::new(),
        alert_due: Box::new(|_, _| None),
        warmup: Duration::from_secs(1),
    });
    let driven = peers.drive(
        &dir,
        rate,
        run_s + 1.0,
        clock,
        Duration::from_secs(30),
        || Ok(!running.is_finished()),
    );
    shutdown.shutdown();
    let result = rt.block_on(running)??;
    peers.close()?;
    let driven = driven?;
    let (sent, drain_s) = (driven.sent, driven.drain_s);
    let tail = driven.finish()?;
    std::fs::remove_dir_all(&dir)?;
    if std::env::var_os("SDA_BENCH_THREADS").is_some() {
        // Where the CPU went, by thread name (threads that ended during the run are missing).
        let after = common::thread_cpu_seconds();
        let used: Vec<String> = after
            .iter()
            .map(|(name, s)| (name, s - threads_before.get(name).copied().unwrap_or(0.0)))
            .filter(|(_, s)| *s >= 0.01)
            .map(|(name, s)| format!("{name} {s:.2}"))
            .collect();
        eprintln!(
            "      thread CPU (s): {}; correlator took {} observations",
            used.join(", "),
            result.counters.associated + result.counters.unassociated
        );
    }
    Ok(Run {
        hist: tail.all,
        cpu_s: result.cpu_s,
        lossless: result.lossless() && tail.seen == sent,
        drain_s,
    })
}

/// Moves every worker of `pool` (`workers` of them) to the `SCHED_IDLE` policy: one job per
/// worker, held at a barrier so that each lands on a different worker.
async fn make_idle(pool: &DedicatedPool, workers: usize) -> anyhow::Result<()> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let barrier = Arc::new(std::sync::Barrier::new(workers));
    let mut jobs = Vec::new();
    for _ in 0..workers {
        let (barrier, pool) = (barrier.clone(), pool.clone());
        jobs.push(tokio::spawn(async move {
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
        }));
    }
    for job in jobs {
        job.await???;
    }
    Ok(())
}
