//! Shared pieces of the pipeline benchmarks: build the real ingest topology from [`Parts`] over a
//! generated scenario, run it to the end (or a deadline) and drain it, then read the latencies
//! back from `audit.jsonl`.

#![allow(dead_code)] // each benchmark uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sda_ingest::app::CorrelatorSettings;
use sda_ingest::catalog::{
    ActiveCatalog, CatalogFeed, CatalogOrigin, FeedStart, SharedCatalog, SourcesDone,
};
use sda_ingest::pipeline::operators::{CorrelatorConfig, PropagatorRuntime};
use sda_ingest::pipeline::sinks::files;
use sda_ingest::pipeline::{CounterSnapshot, Counters, FaultInjection, Parts, build_topology};
use sda_ingest::simulator::{BASE_RECORDS_PER_S, Pacing};
use sda_ingest::transport::Transports;
use sda_ingest_core::orbit::propagate::Propagator;
use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
use sda_orchestrator::{BuiltGraph, OperatorGraph, SupervisorPolicy};

/// A generated scenario with its catalog ready to propagate.
pub(crate) struct Fixture {
    pub(crate) scenario: Scenario,
    pub(crate) catalog: Arc<[Propagator]>,
    pub(crate) streams: Arc<sda_ingest_core::sim::scenario::Streams>,
    pub(crate) registry: Arc<sda_ingest_core::sensors::SensorRegistry>,
    /// Seconds `Scenario::generate` took.
    pub(crate) generate_s: f64,
}

impl Fixture {
    /// Generates the default scenario with sweeps every `cadence_s` seconds.
    pub(crate) fn generate(cadence_s: f64) -> anyhow::Result<Fixture> {
        Self::generate_keeping(cadence_s, true)
    }

    /// [`generate`](Fixture::generate), with the streams moved into [`Fixture::streams`]
    /// instead of copied: `scenario.streams` is left empty. For scenarios too large to hold
    /// twice.
    pub(crate) fn generate_moving_streams(cadence_s: f64) -> anyhow::Result<Fixture> {
        Self::generate_keeping(cadence_s, false)
    }

    fn generate_keeping(cadence_s: f64, keep: bool) -> anyhow::Result<Fixture> {
        let config = ScenarioConfig {
            cadence_s,
            ..ScenarioConfig::default()
        };
        let t = Instant::now();
        let mut scenario = Scenario::generate(&config)?;
        let generate_s = t.elapsed().as_secs_f64();
        let streams = if keep {
            scenario.streams.clone()
        } else {
            std::mem::take(&mut scenario.streams)
        };
        let catalog: Arc<[Propagator]> = scenario
            .catalog
            .objects
            .iter()
            .map(Propagator::new)
            .collect::<Result<_, _>>()?;
        Ok(Fixture {
            streams: Arc::new(streams),
            registry: Arc::new(scenario.sensors.clone()),
            scenario,
            catalog,
            generate_s,
        })
    }

    /// The correlator configuration `app::run` uses, with `work_factor`.
    pub(crate) fn correlator(&self, work_factor: u32) -> CorrelatorConfig {
        let c = &self.scenario.config;
        CorrelatorConfig {
            work_factor,
            ..CorrelatorSettings::default().for_window(c.start_unix_s, c.duration_s)
        }
    }

    /// The pacing of one pass at `rate` × [`BASE_RECORDS_PER_S`] per source.
    pub(crate) fn pacing(rate: f64) -> Pacing {
        Pacing {
            records_per_s: BASE_RECORDS_PER_S * rate,
            passes: Some(1),
        }
    }

    /// The scenario's catalog as the correlator holds it.
    pub(crate) fn shared_catalog(&self) -> SharedCatalog {
        SharedCatalog::new(ActiveCatalog::from_generated(
            &self.scenario.catalog,
            self.catalog.clone(),
            CatalogOrigin::Simulator,
        ))
    }

    /// The service's [`Parts`], all eight sources replayed in-process.
    pub(crate) fn parts(
        &self,
        rate: f64,
        propagator: PropagatorRuntime,
        work_factor: u32,
        out_dir: &Path,
    ) -> Parts {
        Parts {
            streams: self.streams.clone(),
            pacing: Self::pacing(rate),
            registry: self.registry.clone(),
            catalog: self.shared_catalog(),
            catalog_feed: CatalogFeed::new(None, None),
            feed_start: FeedStart::default(),
            sources_done: SourcesDone::new(sda_ingest_core::SensorKind::COUNT),
            propagator,
            correlator: self.correlator(work_factor),
            out_dir: out_dir.to_path_buf(),
            counters: Arc::new(Counters::default()),
            faults: FaultInjection::none(),
            dead_letter_limit: Default::default(),
            transports: Transports::default(),
            dead_letter_ring: None,
            event_time: Default::default(),
            dedup_window: Parts::new_dedup_window(),
            existing: sda_ingest::pipeline::sinks::Existing::Append,
            chain_audit: true,
        }
    }
}

/// How one run ended.
pub(crate) struct RunResult {
    pub(crate) counters: CounterSnapshot,
    pub(crate) dropped_items: u64,
    pub(crate) clean: bool,
    pub(crate) wall_s: f64,
    /// Process CPU time from the end of set-up (graph built, streams copied) to the end of
    /// the drain, seconds.
    pub(crate) cpu_s: f64,
}

impl RunResult {
    /// Zero loss: drained cleanly, nothing dropped, and the accounting identities hold.
    pub(crate) fn lossless(&self) -> bool {
        let c = &self.counters;
        self.clean
            && self.dropped_items == 0
            && c.lost == 0
            && c.accepted == c.delivered + c.duplicates
            && c.received == c.accepted + c.dead_lettered
            && c.audited == c.delivered
    }
}

/// Creates `dir` and empties the output files (the sinks append).
pub(crate) fn prepare_out_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in files::ALL {
        std::fs::File::create(dir.join(name))?;
    }
    Ok(())
}

/// Builds `build_topology(parts)` and runs it until the sources finish, or until `limit` and
/// then a drain.
pub(crate) async fn run_orchestrated(
    parts: Parts,
    limit: Option<Duration>,
) -> anyhow::Result<RunResult> {
    run_graph(parts, build_topology, limit).await
}

/// Builds `topology(parts)` and runs it until the sources finish, or until `limit` and then a
/// drain.
pub(crate) async fn run_graph(
    parts: Parts,
    topology: fn(&Parts) -> OperatorGraph,
    limit: Option<Duration>,
) -> anyhow::Result<RunResult> {
    prepare_out_dir(&parts.out_dir)?;
    let started = Instant::now();
    let built = topology(&parts).build()?;
    run_built(&parts, built, service_policy(), limit, started).await
}

/// The supervisor policy the benchmarks run with: the default, with a 60 s drain.
pub(crate) fn service_policy() -> SupervisorPolicy {
    SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(60))
}

/// Runs `built` (built from `parts`, its output folder prepared) under `policy` until the
/// sources finish, or until `limit` and then a drain; `started` is when set-up began.
pub(crate) async fn run_built(
    parts: &Parts,
    built: BuiltGraph,
    policy: SupervisorPolicy,
    limit: Option<Duration>,
    started: Instant,
) -> anyhow::Result<RunResult> {
    let cpu_before = process_cpu_seconds();
    let (shutdown, monitor) = (built.shutdown_handle(), built.monitor());
    let running = built.run(policy);
    tokio::pin!(running);
    let outcome = match limit {
        None => running.await,
        Some(limit) => {
            tokio::select! {
                outcome = &mut running => outcome,
                () = tokio::time::sleep(limit) => {
                    shutdown.shutdown();
                    running.await
                }
            }
        }
    };
    if std::env::var_os("SDA_BENCH_EDGES").is_some() {
        // Backpressure by edge: the slowest stage is the receiver of a blocked edge whose own
        // outputs are not blocked.
        for edge in monitor.snapshot().edges {
            if edge.blocked_seconds > 0.0 {
                eprintln!(
                    "  edge {:<40} blocked {:>7.3} s",
                    edge.name, edge.blocked_seconds
                );
            }
        }
    }
    Ok(RunResult {
        counters: parts.counters.snapshot(),
        dropped_items: monitor.dropped_items(),
        clean: outcome.is_clean(),
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s: process_cpu_seconds() - cpu_before,
    })
}

/// `(received_at, written_at)` of every record of `audit.jsonl` in `dir`, UTC Unix seconds, in
/// file order (the chain lines that seal the records are not records).
pub(crate) fn audit_times(dir: &Path) -> anyhow::Result<Vec<(f64, f64)>> {
    #[derive(serde::Deserialize)]
    struct Line {
        received_at: Option<f64>,
        written_at: f64,
    }
    let path: PathBuf = dir.join(files::AUDIT);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|line| !sda_ingest::audit_chain::is_chain_line(line.as_bytes()))
        .map(|line| {
            let l: Line = serde_json::from_str(line)?;
            let received = l.received_at.context("audit record without received_at")?;
            Ok((received, l.written_at))
        })
        .collect()
}

/// Source-to-audit latencies of one run, from `audit.jsonl`.
pub(crate) struct Latencies {
    /// `written_at − received_at` of every record, milliseconds, sorted.
    pub(crate) ms: Vec<f64>,
    /// First `received_at` to last `written_at`, seconds.
    pub(crate) span_s: f64,
}

impl Latencies {
    /// Reads `audit.jsonl` in `dir`.
    pub(crate) fn read(dir: &Path) -> anyhow::Result<Latencies> {
        let (mut ms, mut first, mut last) = (Vec::new(), f64::INFINITY, f64::NEG_INFINITY);
        for (received, written) in audit_times(dir)? {
            ms.push((written - received) * 1e3);
            first = first.min(received);
            last = last.max(written);
        }
        ms.sort_by(f64::total_cmp);
        Ok(Latencies {
            ms,
            span_s: (last - first).max(0.0),
        })
    }

    /// The `q` quantile (0..=1), nearest rank; NaN when empty.
    pub(crate) fn quantile(&self, q: f64) -> f64 {
        quantile(&self.ms, q)
    }

    /// Records per second over the span.
    pub(crate) fn per_s(&self) -> f64 {
        self.ms.len() as f64 / self.span_s.max(1e-9)
    }
}

/// The `q` quantile of sorted `xs`, nearest rank; NaN when empty.
pub(crate) fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

/// The median of `xs` (not necessarily sorted); NaN when empty.
pub(crate) fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// The 2-worker multi-thread runtime `main.rs` builds on this machine.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A scratch folder under the target directory.
pub(crate) fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sda-bench-{}-{name}", std::process::id()))
}

/// The machine's 1-minute load average, for the record (Linux; NaN elsewhere).
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// CPU time this process has used so far (all threads, user + system), seconds, from
/// `/proc/self/stat` (Linux; NaN elsewhere). Its resolution is one clock tick (10 ms), so a
/// run of a few seconds on two cores reads it to within a fraction of a percent.
pub(crate) fn process_cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// CPU time process `pid` (`"self"`, or a number) has used so far, seconds, as
/// [`process_cpu_seconds`].
pub(crate) fn cpu_seconds_of(pid: &str) -> f64 {
    stat_file_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time, seconds, in a `/proc/.../stat` file: NaN when unreadable.
fn stat_file_cpu_seconds(path: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| stat_cpu_seconds(&stat))
        .unwrap_or(f64::NAN)
}

/// User + system CPU time, seconds, in the text of a `/proc/.../stat` file. The command name
/// in field 2 may hold spaces; the fields after its closing ')' do not.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / CLOCK_TICKS_PER_S)
}

/// `sysconf(_SC_CLK_TCK)`, 100 on every Linux configuration in use.
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// CPU time of each of this process's live threads so far, seconds, by thread name (summed
/// over threads of the same name), from `/proc/self/task/*/stat` (Linux; empty elsewhere).
pub(crate) fn thread_cpu_seconds() -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let Some(seconds) = stat_cpu_seconds(&stat) else {
            continue;
        };
        *by_name
            .entry(stat[open + 1..close].to_owned())
            .or_insert(0.0) += seconds;
    }
    by_name
}

/// CPU time of the calling thread so far (user + system), seconds, from
/// `/proc/thread-self/stat` (Linux; NaN elsewhere); resolution one clock tick (10 ms).
pub(crate) fn thread_self_cpu_seconds() -> f64 {
    stat_file_cpu_seconds("/proc/thread-self/stat")
}
