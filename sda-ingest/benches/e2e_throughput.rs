//! End-to-end throughput of the SDA ingest pipeline, to saturation.
//!
//! All eight sources replay a generated scenario in-process (no sockets) through the real
//! topology (`build_topology` over `Parts`, the correlator on the PropagatorPool) at a sweep of
//! rates; each run is one pass over the scenario's records, all unique, so nothing but the
//! scenario's planted re-sends is dropped as a duplicate. For each run: observations per second
//! delivered (audit records over first `received_at` to last `written_at`), the source-to-audit
//! latency from `audit.jsonl` (`written_at − received_at`), and whether it was lossless.
//! Baseline, in the same run: the same pipeline hand-wired with tokio mpsc channels
//! (`common/handwired.rs`). Both are also run unpaced without the correlator branch, to show
//! what the rest of the pipeline sustains. Before the sweep, the single-thread cost of each
//! stage per record: where the time goes.
//!
//! A paced run stops (shutdown, then a full drain) after `SDA_BENCH_LIMIT_S` or before its
//! shortest stream would run dry, whichever is sooner, so that every source sends at the full
//! rate throughout; the unpaced run is the whole pass (its sources hand over their whole stream
//! at once, so its latency is the age of that backlog).
//!
//! `cargo bench -p sda-ingest --bench e2e_throughput`. Knobs (environment): `SDA_BENCH_QUICK=1`
//! (one round at 100× and unpaced on a scenario with a sweep every second: under a minute),
//! `SDA_BENCH_ROUNDS`
//! (default 3), `SDA_BENCH_CADENCE_S` (sweep interval of the scenario, default 0.25 s: about
//! 245,000 records), `SDA_BENCH_LIMIT_S` (longest paced run, default 3 s), `SDA_BENCH_RATES`
//! (comma-separated rate multipliers to run instead of the whole sweep, `inf` for unpaced; for
//! profiling one operating point).

mod common;

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/handwired.rs"]
mod handwired;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fixture, Latencies, median, runtime, scratch};
use sda_ingest::pipeline::operators::PropagatorRuntime;
use sda_ingest::pipeline::sinks;
use sda_ingest::pipeline::{Delivered, build_topology};
use sda_ingest::simulator::SimStream;
use sda_ingest_core::orbit::associate::associate;
use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator};
use sda_ingest_core::process::normalize::normalize;
use sda_ingest_core::process::validate::{ValidationPolicy, check};
use sda_ingest_core::sim::scenario::OPTICAL_PAGE_LEN;
use sda_ingest_core::wire::{WireFormat, decode};
use sda_ingest_core::{Observation, SensorKind};
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};

/// Rate multipliers of the sweep; `f64::INFINITY` is unpaced.
const RATES: [f64; 8] = [
    1.0,
    10.0,
    100.0,
    300.0,
    1000.0,
    1250.0,
    1500.0,
    f64::INFINITY,
];
/// The unpaced rate: every record is due at the first tick after the first.
const UNPACED: f64 = 1.0e9;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sweep, or the rates named in `SDA_BENCH_RATES`.
fn selected_rates(quick: bool) -> anyhow::Result<Vec<f64>> {
    let Ok(list) = std::env::var("SDA_BENCH_RATES") else {
        return Ok(if quick {
            vec![100.0, f64::INFINITY]
        } else {
            RATES.to_vec()
        });
    };
    list.split(',')
        .map(|r| match r.trim() {
            "inf" | "unpaced" => Ok(f64::INFINITY),
            r => r
                .parse::<f64>()
                .ok()
                .filter(|x| *x > 0.0)
                .ok_or_else(|| anyhow::anyhow!("SDA_BENCH_RATES: {r:?} is not a positive rate")),
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let rounds: usize = env("SDA_BENCH_ROUNDS", if quick { 1 } else { 3 });
    let cadence_s: f64 = env("SDA_BENCH_CADENCE_S", if quick { 1.0 } else { 0.25 });
    let limit = Duration::from_secs_f64(env("SDA_BENCH_LIMIT_S", 3.0));
    println!("load average at start: {:.2}", common::load_average());
    let fixture = Fixture::generate(cadence_s)?;
    let lengths: Vec<String> = SensorKind::ALL
        .iter()
        .map(|&k| {
            let n = SimStream::from_streams(&fixture.streams, k).messages.len();
            format!("{}={n}", k.as_str())
        })
        .collect();
    println!(
        "scenario: cadence {cadence_s} s, {} objects, {} records ({} accepted, unique) in {:.2} s; messages per source: {}",
        fixture.catalog.len(),
        fixture.scenario.expected.messages,
        fixture.scenario.expected.accepted,
        fixture.generate_s,
        lengths.join(" "),
    );
    stage_costs(&fixture)?;

    let rt = runtime()?;
    let pool = DedicatedPool::new(
        PoolConfig::new("propagator")
            .low_priority(std::env::var_os("SDA_BENCH_NORMAL_PRIO").is_none()),
    )?;
    // (rate, variant) → runs; the variants without the correlator run unpaced only.
    let rates = selected_rates(quick)?;
    let mut plan: Vec<(f64, Variant)> = Vec::new();
    for &rate in &rates {
        plan.push((rate, Variant::Orchestrated));
        plan.push((rate, Variant::HandWired));
    }
    if rates.contains(&f64::INFINITY) {
        plan.push((f64::INFINITY, Variant::OrchestratedNoCorrelator));
        plan.push((f64::INFINITY, Variant::HandWiredNoCorrelator));
    }
    let mut results: Vec<Vec<Run>> = plan.iter().map(|_| Vec::new()).collect();
    println!(
        "\n{:>5} {:>9} {:<24} {:>8} {:>9} {:>9} {:>9} {:>6} {:>9} {:>6}",
        "round",
        "rate",
        "variant",
        "records",
        "obs/s",
        "p50 ms",
        "p99 ms",
        "wall s",
        "cpu µs/rec",
        "loss"
    );
    for round in 0..rounds {
        for pair in (0..plan.len()).step_by(2) {
            // Alternate which variant of a pair goes first, so drift does not favour one.
            let order = if round % 2 == 0 {
                [pair, pair + 1]
            } else {
                [pair + 1, pair]
            };
            for i in order {
                let (rate, variant) = plan[i];
                let run = rt.block_on(run_once(&fixture, &pool, rate, variant, limit))?;
                println!(
                    "{round:>5} {:>9} {:<24} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>6.1} {:>9.2} {:>6}",
                    rate_name(rate),
                    variant.name(),
                    run.records,
                    run.per_s,
                    run.p50_ms,
                    run.p99_ms,
                    run.wall_s,
                    run.cpu_us,
                    if run.lossless { "none" } else { "LOST" },
                );
                results[i].push(run);
            }
        }
    }
    rt.block_on(pool.shutdown(Duration::from_secs(5)))?;

    let m = |runs: &[Run], f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let ok = |runs: &[Run]| {
        let n = runs.iter().filter(|x| x.lossless).count();
        format!("{n}/{}", runs.len())
    };
    println!(
        "\nmedians of {rounds} rounds; ratio = orchestrated obs/s ÷ hand-wired obs/s (of the \
         medians, and the median of the per-round ratios)"
    );
    println!(
        "| rate | offered obs/s | variant | obs/s | p50 | p99 | lossless | hand-wired obs/s | p50 | p99 | lossless | ratio | per round |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for pair in (0..plan.len()).step_by(2) {
        let (rate, variant) = plan[pair];
        let (o, h) = (&results[pair], &results[pair + 1]);
        let offered = if rate.is_finite() {
            format!(
                "{:.0}",
                8.0 * sda_ingest::simulator::BASE_RECORDS_PER_S * rate
            )
        } else {
            "∞".to_owned()
        };
        let per_round: Vec<f64> = o.iter().zip(h).map(|(a, b)| a.per_s / b.per_s).collect();
        println!(
            "| {} | {offered} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.2} | {:.2} |",
            rate_name(rate),
            variant.name(),
            m(o, |x| x.per_s),
            m(o, |x| x.p50_ms),
            m(o, |x| x.p99_ms),
            ok(o),
            m(h, |x| x.per_s),
            m(h, |x| x.p50_ms),
            m(h, |x| x.p99_ms),
            ok(h),
            m(o, |x| x.per_s) / m(h, |x| x.per_s),
            median(&per_round),
        );
    }
    println!("load average at end: {:.2}", common::load_average());
    Ok(())
}

/// What runs the pipeline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// `build_topology` on the orchestrator: the service.
    Orchestrated,
    /// The baseline: the same pipeline hand-wired with tokio mpsc channels.
    HandWired,
    /// `build_topology` with a correlator that drains its input without associating or
    /// screening ([`PropagatorRuntime::Skip`]): what the rest of the pipeline sustains.
    OrchestratedNoCorrelator,
    /// The hand-wired pipeline with the same draining correlator.
    HandWiredNoCorrelator,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Orchestrated => "orchestrated",
            Variant::HandWired => "hand-wired",
            Variant::OrchestratedNoCorrelator => "orchestrated, no correl.",
            Variant::HandWiredNoCorrelator => "hand-wired, no correl.",
        }
    }
}

fn rate_name(rate: f64) -> String {
    if rate.is_finite() {
        format!("{rate}x")
    } else {
        "unpaced".to_owned()
    }
}

/// One run's figures.
struct Run {
    records: usize,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    wall_s: f64,
    /// Process CPU time (every thread: runtime workers, pool, file writers) per record
    /// delivered, µs: the saturation throughput is the core count divided by this.
    cpu_us: f64,
    lossless: bool,
}

async fn run_once(
    fixture: &Fixture,
    pool: &DedicatedPool,
    rate: f64,
    variant: Variant,
    limit: Duration,
) -> anyhow::Result<Run> {
    let dir = scratch("e2e");
    let (paced, limit) = if rate.is_finite() {
        (rate, Some(limit.min(until_dry(fixture, rate))))
    } else {
        (UNPACED, None)
    };
    // "No correlator" runs the same topology with a correlator that drains its input.
    let propagator = match variant {
        Variant::Orchestrated | Variant::HandWired => PropagatorRuntime::Pool(pool.clone()),
        Variant::OrchestratedNoCorrelator | Variant::HandWiredNoCorrelator => {
            PropagatorRuntime::Skip
        }
    };
    let result = match variant {
        Variant::Orchestrated | Variant::OrchestratedNoCorrelator => {
            let parts = fixture.parts(paced, propagator, 1, &dir);
            common::run_graph(parts, build_topology, limit).await?
        }
        Variant::HandWired | Variant::HandWiredNoCorrelator => {
            handwired::run_fixture(fixture, paced, propagator, &dir, limit).await?
        }
    };
    let latencies = Latencies::read(&dir)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(Run {
        records: latencies.ms.len(),
        per_s: latencies.per_s(),
        p50_ms: latencies.quantile(0.50),
        p99_ms: latencies.quantile(0.99),
        wall_s: result.wall_s,
        cpu_us: result.cpu_s * 1e6 / latencies.ms.len().max(1) as f64,
        lossless: result.lossless(),
    })
}

/// How long every source can send at `rate` before the shortest stream runs dry, less 10 %.
fn until_dry(fixture: &Fixture, rate: f64) -> Duration {
    let per_source = sda_ingest::simulator::BASE_RECORDS_PER_S * rate;
    let shortest = SensorKind::ALL
        .iter()
        .map(|&k| {
            let messages = SimStream::from_streams(&fixture.streams, k).messages.len() as f64;
            match WireFormat::for_kind(k) {
                WireFormat::OpticalPage => messages * OPTICAL_PAGE_LEN as f64,
                _ => messages,
            }
        })
        .fold(f64::INFINITY, f64::min);
    Duration::from_secs_f64(0.9 * shortest / per_source)
}

/// Single-thread cost of each stage per record, over the whole scenario: where the time goes.
fn stage_costs(fixture: &Fixture) -> anyhow::Result<()> {
    let frames: Vec<(WireFormat, bytes::Bytes)> = SensorKind::ALL
        .iter()
        .flat_map(|&k| {
            SimStream::from_streams(&fixture.streams, k)
                .messages
                .iter()
                .map(|b| (WireFormat::for_kind(k), b.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let t = Instant::now();
    let mut records = Vec::new();
    for (format, bytes) in &frames {
        records.extend(decode(*format, bytes).records);
    }
    let decode = t.elapsed();
    let t = Instant::now();
    let observations: Vec<Observation> = records
        .iter()
        .map(|r| normalize(r, &fixture.registry))
        .collect();
    let norm = t.elapsed();
    let n = observations.len() as f64;
    let policy = ValidationPolicy::default();
    let t = Instant::now();
    let valid: Vec<Observation> = observations
        .into_iter()
        .filter(|o| check(o, &policy).is_none())
        .collect();
    let val = t.elapsed();
    let t = Instant::now();
    let mut window = Deduplicator::new(DedupConfig::default());
    let fresh = valid
        .iter()
        .filter(|o| {
            window.check(o, Duration::ZERO) == sda_ingest_core::process::dedup::Verdict::New
        })
        .count();
    let dedup = t.elapsed();
    // Each encoding is dropped at once, as in the pipeline, where the allocator recycles the
    // memory; keeping a million of them would time page faults instead. The clone it needs is
    // timed on its own and taken off.
    let t = Instant::now();
    for o in &valid {
        black_box(Delivered::new(o.clone())?);
    }
    let encode_and_clone = t.elapsed();
    let t = Instant::now();
    for o in &valid {
        black_box(o.clone());
    }
    let encode = encode_and_clone.saturating_sub(t.elapsed());
    let delivered = valid
        .into_iter()
        .map(|o| Delivered::new(o).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut buf = Vec::new();
    let t = Instant::now();
    for d in &delivered {
        buf.clear();
        sinks::encode_observation(d, &mut buf)?;
    }
    let enc_obs = t.elapsed();
    let t = Instant::now();
    for d in &delivered {
        buf.clear();
        sinks::encode_audit(d, &mut buf)?;
    }
    let enc_audit = t.elapsed();
    let sample = &delivered[..delivered.len().min(5_000)];
    let t = Instant::now();
    let hits = sample
        .iter()
        .filter(|d| associate(black_box(&d.observation), &fixture.catalog, 50.0).is_some())
        .count();
    let assoc = t.elapsed().as_secs_f64() / sample.len() as f64;
    black_box((fresh, hits));
    let us = |d: Duration, over: f64| d.as_secs_f64() / over * 1e6;
    let rows = [
        ("decode (wire → record)", us(decode, n)),
        ("normalize (record → Observation)", us(norm, n)),
        ("validate", us(val, n)),
        ("dedup window", us(dedup, delivered.len() as f64)),
        (
            "dedup: JSON encode (once)",
            us(encode, delivered.len() as f64),
        ),
        (
            "observations sink: line",
            us(enc_obs, delivered.len() as f64),
        ),
        ("audit sink: line", us(enc_audit, delivered.len() as f64)),
        ("correlator: associate (SGP4 × catalog)", assoc * 1e6),
    ];
    let total: f64 = rows.iter().map(|r| r.1).sum();
    println!(
        "\nsingle-thread cost per record ({} records, {} objects in the catalog):",
        n,
        fixture.catalog.len()
    );
    println!("| stage | µs / record | share |\n|---|---|---|");
    for (name, cost) in rows {
        println!("| {name} | {cost:.2} | {:.0} % |", 100.0 * cost / total);
    }
    println!(
        "| total | {total:.2} | ⇒ at most {:.0} obs/s per core |",
        1e6 / total
    );
    Ok(())
}
