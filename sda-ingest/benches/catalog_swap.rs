//! The pause the ingest path sees while a new catalog is loaded and swapped in.
//!
//! A catalog shaped like the public one ([`Catalog::realistic`], 25,000 objects) is written as
//! a 3LE file and loaded as the service loads it; the scenario observes its objects
//! (`Population::External`); the real topology (`build_topology` over `Parts`, the `catalog`
//! source watching the file every 0.5 s, the correlator on the PropagatorPool as `app::run`
//! builds it) runs all eight sources in-process. From a quarter of the run on, the file is
//! replaced (atomically) every `SDA_BENCH_SWAP_EVERY_S` seconds by a refresh of the same
//! population: every element set re-issued (next element set number, B* changed by a part in a
//! thousand), so its predictions agree with the last ones to metres, as consecutive fits of a
//! tracked object do, and the observations still confirm their objects. The `catalog` source
//! reads and checks it on the pool, the correlator swaps it in and screens the hour ahead again
//! with it.
//!
//! Latency is the audit path's, `written_at − received_at` of each `audit.jsonl` record (the
//! branch of `dedup` beside the correlator). Records are split by when they were received:
//! **during a swap** (from a file's replacement until the rescreen that follows its swap has
//! ended, plus a quarter of a second for the records then in flight) and **between swaps** (the
//! rest of the run after the first quarter), the same run either way.
//!
//! `cargo bench -p sda-ingest --bench catalog_swap`. Knobs (environment): `SDA_BENCH_QUICK=1`
//! (5,000 objects, 24 s run), `SDA_BENCH_OBJECTS` (25,000), `SDA_BENCH_RUN_S` (60),
//! `SDA_BENCH_SWAP_EVERY_S` (8), `SDA_BENCH_RATE` (2, × 25 records/s per source),
//! `SDA_BENCH_JOBS` (the correlator's pool jobs per screening run; default one per CPU, as the
//! service).

mod common;

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use common::{load_average, prepare_out_dir, quantile, runtime, scratch};
use sda_ingest::app::CorrelatorSettings;
use sda_ingest::catalog::{CatalogFeed, FeedStart, SharedCatalog, SourcesDone, read_catalog};
use sda_ingest::pipeline::operators::{CorrelatorConfig, PropagatorRuntime};
use sda_ingest::pipeline::{Counters, FaultInjection, Parts, build_topology, unix_now};
use sda_ingest::simulator::{BASE_RECORDS_PER_S, Pacing};
use sda_ingest::transport::Transports;
use sda_ingest_core::SensorKind;
use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::elements::{ElementSet, TleStyle, load, write_tle};
use sda_ingest_core::sim::scenario::{Population, Scenario, ScenarioConfig};
use sda_orchestrator::SupervisorPolicy;
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reference epoch of the generated catalogs: 2024-03-01T00:00:00Z.
const EPOCH: f64 = 1_709_251_200.0;

/// After a rescreen ends, records received this much later may still have waited behind it.
const SETTLE_S: f64 = 0.25;

/// What the benchmark runs.
struct Setup {
    objects: usize,
    run_s: f64,
    swap_every_s: f64,
    rate: f64,
    jobs: usize,
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let setup = Setup {
        objects: env("SDA_BENCH_OBJECTS", if quick { 5_000 } else { 25_000 }),
        run_s: env("SDA_BENCH_RUN_S", if quick { 24.0 } else { 60.0 }),
        swap_every_s: env("SDA_BENCH_SWAP_EVERY_S", 8.0),
        rate: env("SDA_BENCH_RATE", 2.0),
        jobs: env(
            "SDA_BENCH_JOBS",
            CorrelatorSettings::default().for_window(0.0, 0.0).jobs,
        ),
    };
    let load_before = load_average();
    let dir = scratch("catalog-swap");
    prepare_out_dir(&dir)?;
    let path = dir.join("catalog.3le");

    // The catalog at start and its refreshes.
    let swaps = ((setup.run_s * 0.75 - 2.0) / setup.swap_every_s)
        .floor()
        .max(1.0) as usize;
    let t = Instant::now();
    let first = Catalog::realistic(1, setup.objects, 1, EPOCH)?.to_tle_text();
    let write_s = t.elapsed().as_secs_f64();
    let sets: Vec<ElementSet> = load(&first)?
        .objects
        .into_iter()
        .map(|o| o.elements)
        .collect();
    let mut versions = vec![first];
    for k in 1..=swaps {
        let refreshed: Vec<ElementSet> = sets
            .iter()
            .map(|el| ElementSet {
                element_set_no: el.element_set_no % 999 + k as u32,
                bstar: el.bstar * (1.0 + 1e-3 * k as f64),
                ..el.clone()
            })
            .collect();
        versions.push(write_tle(&refreshed, TleStyle::ThreeLine)?);
    }
    std::fs::write(&path, &versions[0])?;

    let rt = runtime()?;
    let pool = DedicatedPool::new(PoolConfig::new("propagator").low_priority(true))?;
    let result = rt.block_on(run(&pool, &dir, &path, &versions[1..], &setup));
    rt.block_on(pool.shutdown(Duration::from_secs(10)))?;
    let r = result?;

    let records = audit(&dir)?;
    let during_swap = |at: f64| {
        r.swaps
            .iter()
            .any(|s| (s.written_at..s.rescreened_at + SETTLE_S).contains(&at))
    };
    let (mut during, mut between) = (Vec::new(), Vec::new());
    for &(at, ms) in &records {
        if at < r.started_at + setup.run_s / 4.0 {
            continue;
        }
        if during_swap(at) {
            during.push(ms);
        } else {
            between.push(ms);
        }
    }
    during.sort_by(f64::total_cmp);
    between.sort_by(f64::total_cmp);

    println!(
        "catalog_swap: {} objects, {} s at {} records/s, {} swaps, {} screening jobs, load average {load_before:.2} -> {:.2}",
        setup.objects,
        setup.run_s,
        8.0 * BASE_RECORDS_PER_S * setup.rate,
        r.swaps.len(),
        setup.jobs,
        load_average()
    );
    println!(
        "  a catalog generated and written as 3LE: {write_s:.2} s ({} bytes)",
        versions[0].len()
    );
    println!(
        "  start-up load (read, parse, check, SGP4 init, index): {:.2} s; {} objects, {} rejects",
        r.load_s, r.loaded_objects, r.loaded_rejects
    );
    println!(
        "  scenario generation against it: {:.2} s ({} records)",
        r.generate_s, r.records
    );
    let median = |xs: Vec<f64>| common::median(&xs);
    println!(
        "  per swap (medians): file replaced -> swapped in {:.2} s, -> rescreen done {:.2} s",
        median(
            r.swaps
                .iter()
                .map(|s| s.swapped_at - s.written_at)
                .collect()
        ),
        median(
            r.swaps
                .iter()
                .map(|s| s.rescreened_at - s.written_at)
                .collect()
        ),
    );
    println!(
        "  final generation {}, screenings {}, alerts {}, lossless {}, drain {:.1} s",
        r.generation, r.screenings, r.alerts, r.lossless, r.drain_s
    );
    println!("| audit path | records | p50 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|");
    for (name, ms) in [("between swaps", &between), ("during a swap", &during)] {
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            ms.len(),
            quantile(ms, 0.5),
            quantile(ms, 0.99),
            quantile(ms, 0.999),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "  p99 during a swap / between swaps: {:.2}",
        quantile(&during, 0.99) / quantile(&between, 0.99)
    );
    // Where the slowest records were received relative to the last replacement before them:
    // a pause of the main runtime shows as a cluster at one offset, a shortage of CPU as a
    // spread.
    let mut slowest: Vec<(f64, f64)> = records
        .iter()
        .filter(|(at, _)| *at >= r.started_at + setup.run_s / 4.0)
        .copied()
        .collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let listed: Vec<String> = slowest
        .iter()
        .take(10)
        .map(|&(at, ms)| {
            let since = r
                .swaps
                .iter()
                .map(|s| at - s.written_at)
                .filter(|d| *d >= 0.0)
                .fold(f64::INFINITY, f64::min);
            format!("{ms:.1} ms at +{since:.2} s")
        })
        .collect();
    println!(
        "  slowest records, time since the last replacement: {}",
        listed.join(", ")
    );
    if !r.lossless || r.generation != 1 + r.swaps.len() as u64 {
        bail!(
            "the run lost records or missed a swap (generation {} after {} swaps; {})",
            r.generation,
            r.swaps.len(),
            r.loss
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Every record of `audit.jsonl` in `dir`: when it was received (UTC Unix seconds) and its
/// source-to-audit latency (ms).
fn audit(dir: &Path) -> anyhow::Result<Vec<(f64, f64)>> {
    Ok(common::audit_times(dir)?
        .into_iter()
        .map(|(received, written)| (received, (written - received) * 1e3))
        .collect())
}

/// One replacement of the file, UTC Unix seconds.
struct Swap {
    written_at: f64,
    swapped_at: f64,
    rescreened_at: f64,
}

/// What one run measured; times are UTC Unix seconds.
struct Run {
    started_at: f64,
    load_s: f64,
    loaded_objects: usize,
    loaded_rejects: usize,
    generate_s: f64,
    records: usize,
    swaps: Vec<Swap>,
    generation: u64,
    screenings: u64,
    alerts: u64,
    lossless: bool,
    /// How the run ended and what was not accounted, when it was not lossless.
    loss: String,
    /// Seconds the drain took after the run (the correlator's backlog, mostly).
    drain_s: f64,
}

async fn run(
    pool: &DedicatedPool,
    dir: &Path,
    path: &Path,
    refreshes: &[String],
    setup: &Setup,
) -> anyhow::Result<Run> {
    let runtime = PropagatorRuntime::from(pool.clone());
    let t = Instant::now();
    let (catalog, digest) = read_catalog(path, 1, &runtime).await?;
    let load_s = t.elapsed().as_secs_f64();
    let (loaded_objects, loaded_rejects) = (catalog.objects().len(), catalog.summary().rejects);
    let start = catalog.newest_epoch_unix_s().context("an empty catalog")?;
    // About one record per sensor and sweep: enough sweeps that no stream ends before the run.
    let per_source_s = BASE_RECORDS_PER_S * setup.rate;
    let config = ScenarioConfig {
        start_unix_s: start,
        cadence_s: (7_200.0 / (per_source_s * setup.run_s * 1.5)).min(60.0),
        population: Population::External(Arc::clone(catalog.objects().objects())),
        ..ScenarioConfig::default()
    };
    let t = Instant::now();
    let scenario = pool.submit(move || Scenario::generate(&config)).await??;
    let generate_s = t.elapsed().as_secs_f64();
    let records = scenario.expected.messages;

    let shared = SharedCatalog::new(catalog);
    let mut feed = CatalogFeed::new(Some(path.to_owned()), None);
    feed.watch_interval = Duration::from_millis(500);
    let counters = Arc::new(Counters::default());
    let parts = Parts {
        streams: Arc::new(scenario.streams),
        pacing: Pacing {
            records_per_s: per_source_s,
            passes: Some(1),
        },
        registry: Arc::new(scenario.sensors),
        catalog: shared.clone(),
        catalog_feed: feed,
        feed_start: FeedStart {
            generation: 1,
            file_digest: Some(digest),
            url_digest: None,
        },
        sources_done: SourcesDone::new(SensorKind::COUNT),
        propagator: runtime,
        correlator: CorrelatorConfig {
            jobs: setup.jobs,
            ..CorrelatorSettings::default().for_window(start, 7_200.0)
        },
        out_dir: dir.to_owned(),
        counters: counters.clone(),
        faults: FaultInjection::none(),
        dead_letter_limit: Default::default(),
        transports: Transports::default(),
        dead_letter_ring: None,
        event_time: Default::default(),
        dedup_window: Parts::new_dedup_window(),
        existing: sda_ingest::pipeline::sinks::Existing::Append,
        chain_audit: true,
    };
    let built = build_topology(&parts).build()?;
    let (shutdown, monitor) = (built.shutdown_handle(), built.monitor());
    // Five rescreens of 25,000 objects in 40 s can leave the correlator behind on a busy
    // machine; its drain is not what is measured, so it gets time.
    let policy = SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(180));
    let started_at = unix_now();
    let started = Instant::now();
    let running = tokio::spawn(built.run(policy));

    let mut swaps = Vec::new();
    for (k, text) in refreshes.iter().enumerate() {
        let at = setup.run_s / 4.0 + setup.swap_every_s * k as f64;
        tokio::time::sleep_until((started + Duration::from_secs_f64(at)).into()).await;
        let next = path.with_extension("next");
        std::fs::write(&next, text)?;
        std::fs::rename(&next, path)?;
        let written_at = unix_now();
        let deadline = Instant::now() + Duration::from_secs_f64(setup.swap_every_s);
        // Polled from the harness (it is not part of the service) at 5 ms.
        while shared.current().generation() < 2 + k as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let swapped_at = unix_now();
        // The correlator screens right after it swaps, and that rescreen of the hour ahead
        // takes far longer than the 5 ms poll, so the next screening to finish is it.
        let screened = counters.screenings.load(Ordering::Relaxed);
        while counters.screenings.load(Ordering::Relaxed) == screened && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        swaps.push(Swap {
            written_at,
            swapped_at,
            rescreened_at: unix_now(),
        });
    }
    tokio::time::sleep_until((started + Duration::from_secs_f64(setup.run_s)).into()).await;
    shutdown.shutdown();
    let drain = Instant::now();
    let outcome = running.await?;
    let drain_s = drain.elapsed().as_secs_f64();
    let c = counters.snapshot();
    let loss = format!(
        "outcome {outcome}, dropped items {}, lost {}, audited {} of {} delivered",
        monitor.dropped_items(),
        c.lost,
        c.audited,
        c.delivered
    );
    Ok(Run {
        loss,
        drain_s,
        started_at,
        load_s,
        loaded_objects,
        loaded_rejects,
        generate_s,
        records,
        swaps,
        generation: shared.current().generation(),
        screenings: c.screenings,
        alerts: c.alerts,
        lossless: outcome.is_clean()
            && monitor.dropped_items() == 0
            && c.lost == 0
            && c.audited == c.delivered,
    })
}
