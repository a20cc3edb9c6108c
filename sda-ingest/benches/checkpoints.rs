//! What checkpoints cost, and how fast a crashed service recovers.
//!
//! **Cost, paced.** The real topology (`build_topology` over `Parts`, all eight sources
//! replayed in-process, the correlator on the PropagatorPool) runs at a fixed paced rate three
//! ways, interleaved in every round (A/B/C, rotated): no checkpoints, a checkpoint every 10 s,
//! and one every 1 s (the sinks flush and `fsync` at each barrier, every registered state is
//! written). For each run: observations per second delivered and the p50/p99 source-to-audit
//! latency (from `audit.jsonl`, as the other pipeline benchmarks), and for the checkpointed
//! runs how many completed, the last one's size and duration. Medians over the rounds, with
//! the spread, and the throughput ratio of each against no checkpoints from the same rounds.
//! Below capacity the throughput is the offered rate by construction: this part shows the
//! latency cost.
//!
//! **Cost at saturation.** The same three settings, offered twice what the pipeline takes
//! without checkpoints (measured first), for a warm-up and a fixed window in which the
//! throughput is what the audit sink wrote; each checkpoint that completed in the window is
//! counted with its duration and size (see `common/saturation.rs`: how the scenario is sized
//! so that every source keeps a backlog through the window, and the disk-space guard).
//!
//! **Recovery.** The `sda-ingest` binary (default scenario and rate, in-process replay) with
//! `--checkpoint-interval 1` is killed with SIGKILL a few seconds into a run and started again
//! with `--resume`: the time from the restart to its first new observation line in
//! `observations.jsonl` (the graph built, the checkpoint read, the replay resumed and the
//! first record through), and to its first completed checkpoint.
//!
//! `cargo bench -p sda-ingest --bench checkpoints`. Knobs: `SDA_BENCH_QUICK=1` (under a
//! minute: 3 paced rounds of 1.5 s runs, one saturated round of 0.5 s + 1.5 s runs on a
//! scenario with a sweep every 0.04 s, one recovery), `SDA_BENCH_ROUNDS` (default 5), `SDA_BENCH_LIMIT_S` (paced run
//! length, default 4 s), `SDA_BENCH_RATE` (paced rate multiplier, default 100: 2,500
//! records/s per source), `SDA_BENCH_SAT_ROUNDS` (default `SDA_BENCH_ROUNDS`),
//! `SDA_BENCH_SAT_WARMUP_S` (2), `SDA_BENCH_SAT_WINDOW_S` (15), `SDA_BENCH_SAT_FACTOR`
//! (offered ÷ capacity, 2), `SDA_BENCH_SAT_MIN_CADENCE_S` (the finest scenario it may
//! generate, 0.004 s), `SDA_BENCH_SAT_DIR` (where the saturated runs write, default the temp
//! folder), `SDA_BENCH_SAT_DISK_RESERVE_GB` (what a run must leave free there, 3),
//! `SDA_BENCH_RECOVERIES` (default 3), `SDA_BENCH_SKIP` (any of `paced`, `saturation`,
//! `recovery`).

mod common;

#[path = "common/saturation.rs"]
mod saturation;

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, Latencies, median, runtime, scratch};
use sda_ingest::pipeline::operators::PropagatorRuntime;
use sda_ingest::pipeline::{Parts, build_topology};
use sda_orchestrator::SupervisorPolicy;
use sda_orchestrator::checkpoint::{CheckpointConfig, CheckpointStatus};
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One run's figures.
struct Figures {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    checkpoints: CheckpointStatus,
}

/// Runs the topology for `limit` (then drains) with checkpoints every `interval` (or none).
async fn run(
    fixture: &Fixture,
    pool: &DedicatedPool,
    rate: f64,
    interval: Option<Duration>,
    limit: Duration,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let _ = std::fs::remove_dir_all(dir);
    common::prepare_out_dir(dir)?;
    let parts: Parts = fixture.parts(rate, PropagatorRuntime::from(pool.clone()), 1, dir);
    let mut graph = build_topology(&parts);
    if let Some(interval) = interval {
        graph = graph.with_checkpoints(
            CheckpointConfig::new(dir.join("checkpoints")).with_interval(interval),
        );
    }
    let built = graph.build()?;
    let (shutdown, monitor) = (built.shutdown_handle(), built.monitor());
    let running =
        built.run(SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(60)));
    tokio::pin!(running);
    let outcome = tokio::select! {
        outcome = &mut running => outcome,
        () = tokio::time::sleep(limit) => {
            shutdown.shutdown();
            running.await
        }
    };
    anyhow::ensure!(outcome.is_clean(), "run ended {outcome:?}");
    let latencies = Latencies::read(dir)?;
    Ok(Figures {
        per_s: latencies.per_s(),
        p50_ms: latencies.quantile(0.5),
        p99_ms: latencies.quantile(0.99),
        checkpoints: monitor.checkpoints(),
    })
}

/// Median and range of `xs`, formatted.
fn spread(xs: &[f64], digits: usize) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.digits$} [{:.digits$} – {:.digits$}]",
        median(xs),
        lo,
        hi
    )
}

/// Kills a checkpointing service and measures its recovery with `--resume`: seconds from the
/// restart to its first new observation line, and to its first completed checkpoint.
fn recovery(dir: &Path, run_s: f64) -> anyhow::Result<(f64, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    let binary = env!("CARGO_BIN_EXE_sda-ingest");
    let start = |resume: bool| {
        let mut command = Command::new(binary);
        command
            // The default scenario at the default rate: the replay lasts about 9 s.
            .args(["--transport", "inprocess", "--no-control"])
            .args([
                "--checkpoint-interval",
                "1",
                "--log-format",
                "json",
                "--out",
            ])
            .arg(dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if resume {
            command.arg("--resume");
        }
        command.spawn()
    };
    let mut first = start(false)?;
    std::thread::sleep(Duration::from_secs_f64(run_s));
    first.kill()?; // SIGKILL
    first.wait()?;
    let lines = |name: &str| {
        std::fs::read(dir.join(name))
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    };
    let before = lines("observations.jsonl");
    let checkpoints = |dir: &Path| {
        std::fs::read_dir(dir.join("checkpoints"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let checkpoints_before = checkpoints(dir);
    let restarted = Instant::now();
    let mut second = start(true)?;
    let deadline = restarted + Duration::from_secs(60);
    let (mut first_line, mut first_checkpoint) = (None, None);
    while (first_line.is_none() || first_checkpoint.is_none()) && Instant::now() < deadline {
        if first_line.is_none() && lines("observations.jsonl") > before {
            first_line = Some(restarted.elapsed().as_secs_f64());
        }
        if first_checkpoint.is_none() && checkpoints(dir) != checkpoints_before {
            first_checkpoint = Some(restarted.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    second.kill()?;
    second.wait()?;
    match (first_line, first_checkpoint) {
        (Some(line), Some(checkpoint)) => Ok((line, checkpoint)),
        _ => anyhow::bail!("the resumed service wrote nothing within 60 s"),
    }
}

/// The three settings every round runs, interleaved.
const MODES: [(&str, Option<Duration>); 3] = [
    ("none", None),
    ("every 10 s", Some(Duration::from_secs(10))),
    ("every 1 s", Some(Duration::from_secs(1))),
];

/// The paced runs: the three settings at `rate`, interleaved, `rounds` times.
fn paced(
    rt: &tokio::runtime::Runtime,
    pool: &DedicatedPool,
    fixture: &Fixture,
    quick: bool,
    rounds: usize,
) -> anyhow::Result<()> {
    let limit = Duration::from_secs_f64(env("SDA_BENCH_LIMIT_S", if quick { 1.5 } else { 4.0 }));
    let rate: f64 = env("SDA_BENCH_RATE", 100.0);
    let dir = scratch("checkpoints");
    let mut figures: Vec<Vec<Figures>> = (0..MODES.len()).map(|_| Vec::new()).collect();
    println!(
        "paced: rate {rate}x ({} records/s per source), {:.1} s runs, {rounds} rounds, load {:.2}",
        sda_ingest::simulator::BASE_RECORDS_PER_S * rate,
        limit.as_secs_f64(),
        common::load_average()
    );
    for round in 0..rounds {
        for k in 0..MODES.len() {
            let m = (round + k) % MODES.len();
            let f = rt.block_on(run(fixture, pool, rate, MODES[m].1, limit, &dir))?;
            figures[m].push(f);
        }
    }
    let base: Vec<f64> = figures[0].iter().map(|f| f.per_s).collect();
    for (m, (name, _)) in MODES.iter().enumerate() {
        let per_s: Vec<f64> = figures[m].iter().map(|f| f.per_s).collect();
        let p50: Vec<f64> = figures[m].iter().map(|f| f.p50_ms).collect();
        let p99: Vec<f64> = figures[m].iter().map(|f| f.p99_ms).collect();
        let ratio: Vec<f64> = per_s.iter().zip(&base).map(|(x, b)| x / b).collect();
        println!(
            "  {name:<11} obs/s {}  p50 ms {}  p99 ms {}  vs none {}",
            spread(&per_s, 0),
            spread(&p50, 2),
            spread(&p99, 2),
            spread(&ratio, 3)
        );
        if m > 0 {
            let completed: Vec<f64> = figures[m]
                .iter()
                .map(|f| f.checkpoints.completed as f64)
                .collect();
            let size: Vec<f64> = figures[m]
                .iter()
                .filter_map(|f| f.checkpoints.last_size_bytes.map(|b| b as f64 / 1024.0))
                .collect();
            let took: Vec<f64> = figures[m]
                .iter()
                .filter_map(|f| f.checkpoints.last_duration_seconds.map(|s| s * 1e3))
                .collect();
            if size.is_empty() {
                println!("              no checkpoint completed in a run");
            } else {
                println!(
                    "              completed per run {}  last size KiB {}  last duration ms {}",
                    spread(&completed, 0),
                    spread(&size, 1),
                    spread(&took, 1)
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The saturated runs: a calibration without checkpoints finds what the pipeline takes, a
/// scenario is generated long enough that no stream runs dry in a run at that rate, then the
/// three settings are offered `factor` times the rate, interleaved, `rounds` times.
fn saturated(
    rt: &tokio::runtime::Runtime,
    pool: &DedicatedPool,
    quick: bool,
    rounds: usize,
    probe: &Fixture,
    probe_cadence_s: f64,
) -> anyhow::Result<()> {
    let secs = |name: &str, quick_s: f64, full_s: f64| {
        Duration::from_secs_f64(env(name, if quick { quick_s } else { full_s }))
    };
    let warmup = secs("SDA_BENCH_SAT_WARMUP_S", 0.5, 2.0);
    let window = secs("SDA_BENCH_SAT_WINDOW_S", 1.5, 15.0);
    let factor: f64 = env("SDA_BENCH_SAT_FACTOR", 2.0);
    let min_cadence: f64 = env(
        "SDA_BENCH_SAT_MIN_CADENCE_S",
        if quick { 0.04 } else { 0.004 },
    );
    let reserve = env("SDA_BENCH_SAT_DISK_RESERVE_GB", 3.0) * 1e9;
    // Offered during calibration: far above what two cores take.
    let probe_per_s = 1_000_000.0;
    // The output goes where the other benchmarks write theirs, unless told otherwise.
    let dir = match std::env::var_os("SDA_BENCH_SAT_DIR") {
        Some(parent) => std::path::PathBuf::from(parent)
            .join(format!("sda-bench-{}-saturation", std::process::id())),
        None => scratch("saturation"),
    };
    println!(
        "saturation: {:.1} s warm-up + {:.1} s window per run, {rounds} rounds, output in {}, load {:.2}",
        warmup.as_secs_f64(),
        window.as_secs_f64(),
        dir.display(),
        common::load_average()
    );
    let run_s = (warmup + window).as_secs_f64();
    // A rough capacity first, on a scenario long enough that no stream runs dry in its 2 s:
    // it sizes the scenario. The quick mode takes the finest scenario it allows at once.
    let own_probe;
    let (probe, probe_cadence_s, mut basis) = if quick {
        (probe, probe_cadence_s, f64::INFINITY)
    } else {
        own_probe = Fixture::generate(0.05)?;
        let rough = rt.block_on(saturation::run(
            &own_probe,
            pool,
            saturation::rate_for(probe_per_s),
            None,
            Duration::from_millis(500),
            Duration::from_millis(1500),
            &dir,
        ))?;
        (&own_probe, 0.05, rough.per_s)
    };
    let mut attempts = 0;
    let (sized, calibration) = loop {
        attempts += 1;
        let needs = saturation::needs(basis, basis * factor / 8.0, run_s);
        let sized = saturation::sized(&probe.streams, probe_cadence_s, &needs, min_cadence)?;
        let sized_for = if basis.is_finite() {
            format!("sized for {basis:.0} obs/s")
        } else {
            "the finest allowed".to_owned()
        };
        println!(
            "  {sized_for}: a sweep every {:.4} s ({} records, generated in {:.1} s), streams cut to what a run can send: {:?}",
            sized.cadence_s,
            sized.generated,
            sized.fixture.generate_s,
            saturation::stream_lengths(&sized.fixture.streams)
        );
        // The capacity without checkpoints on that scenario sets the offered rate.
        let calibration = rt.block_on(saturation::run(
            &sized.fixture,
            pool,
            saturation::rate_for(probe_per_s),
            None,
            warmup,
            window.min(Duration::from_secs(3)),
            &dir,
        ))?;
        let wanted = saturation::needs(calibration.per_s, calibration.per_s * factor / 8.0, run_s);
        let short = wanted
            .iter()
            .zip(saturation::stream_lengths(&sized.fixture.streams))
            .any(|((_, want), (_, have))| *want > have);
        if !short || quick || attempts == 2 {
            break (sized, calibration);
        }
        println!(
            "  calibrated at {:.0} obs/s, more than the scenario holds: sized again",
            calibration.per_s
        );
        basis = calibration.per_s;
    };
    let fixture = &sized.fixture;
    let capacity = calibration.per_s;
    let rate = saturation::rate_for(capacity * factor);
    let bytes_per_record = calibration.bytes_written as f64 / calibration.audited.max(1) as f64;
    println!(
        "  calibration, no checkpoints: {capacity:.0} obs/s written; offering {factor} x that: {:.0} obs/s; {bytes_per_record:.0} bytes written per record",
        saturation::offered(rate)
    );
    let mut figures: Vec<Vec<saturation::Saturated>> =
        (0..MODES.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..MODES.len() {
            let m = (round + k) % MODES.len();
            // A run writes gigabytes: refused rather than filling a shared disk.
            let need = capacity * 1.2 * (run_s + 1.0) * bytes_per_record;
            if let Some(free) = saturation::free_bytes(&dir)
                && (free as f64) < need + reserve
            {
                anyhow::bail!(
                    "{:.1} GB free; a saturated run needs about {:.1} GB and {:.1} GB stay free (SDA_BENCH_SAT_DISK_RESERVE_GB)",
                    free as f64 / 1e9,
                    need / 1e9,
                    reserve / 1e9
                );
            }
            let f = rt.block_on(saturation::run(
                fixture, pool, rate, MODES[m].1, warmup, window, &dir,
            ))?;
            let durations: Vec<String> = f
                .in_window
                .iter()
                .map(|c| format!("{:.0}", c.duration_s * 1e3))
                .collect();
            println!(
                "    round {round} {:<11} obs/s {:.0}  p99 ms {:.0}  checkpoints in window {} (ms: {})  abandoned {}{}  sources blocked {:.0} s  load {:.2}",
                MODES[m].0,
                f.per_s,
                f.p99_ms,
                f.in_window.len(),
                durations.join(" "),
                f.abandoned,
                f.last_abandoned_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                f.sources_blocked_s,
                common::load_average()
            );
            if !f.ran_dry.is_empty() {
                let what = format!(
                    "stream(s) {:?} ran dry before the window ended: the mix of formats changed during the run",
                    f.ran_dry
                );
                // The quick mode's scenario is kept small for time; the full one must hold.
                anyhow::ensure!(quick, "{what}");
                println!("      note: {what}");
            }
            figures[m].push(f);
        }
    }
    let base: Vec<f64> = figures[0].iter().map(|f| f.per_s).collect();
    for (m, (name, _)) in MODES.iter().enumerate() {
        let per_s: Vec<f64> = figures[m].iter().map(|f| f.per_s).collect();
        let p50: Vec<f64> = figures[m].iter().map(|f| f.p50_ms).collect();
        let p99: Vec<f64> = figures[m].iter().map(|f| f.p99_ms).collect();
        let ratio: Vec<f64> = per_s.iter().zip(&base).map(|(x, b)| x / b).collect();
        println!(
            "  {name:<11} obs/s {}  p50 ms {}  p99 ms {}  vs none {}",
            spread(&per_s, 0),
            spread(&p50, 1),
            spread(&p99, 1),
            spread(&ratio, 3)
        );
        if m > 0 {
            let half = |h: usize| -> Vec<f64> {
                figures[m]
                    .iter()
                    .zip(&figures[0])
                    .map(|(f, b)| f.halves_per_s[h] / b.halves_per_s[h])
                    .collect()
            };
            println!(
                "              vs none over the window's first half {}  second half {}",
                spread(&half(0), 3),
                spread(&half(1), 3)
            );
            let count: Vec<f64> = figures[m]
                .iter()
                .map(|f| f.in_window.len() as f64)
                .collect();
            let took: Vec<f64> = figures[m]
                .iter()
                .flat_map(|f| f.in_window.iter().map(|c| c.duration_s * 1e3))
                .collect();
            let size: Vec<f64> = figures[m]
                .iter()
                .flat_map(|f| {
                    f.in_window
                        .iter()
                        .map(|c| c.size_bytes as f64 / 1024.0 / 1024.0)
                })
                .collect();
            let abandoned: Vec<f64> = figures[m].iter().map(|f| f.abandoned as f64).collect();
            println!(
                "              completed in window {}  each: duration ms {}  size MiB {}  abandoned per run {}",
                spread(&count, 0),
                spread(&took, 0),
                spread(&size, 1),
                spread(&abandoned, 0)
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let rounds: usize = env("SDA_BENCH_ROUNDS", if quick { 3 } else { 5 });
    let recoveries: usize = env("SDA_BENCH_RECOVERIES", if quick { 1 } else { 3 });
    let skip = std::env::var("SDA_BENCH_SKIP").unwrap_or_default();
    let rt = runtime()?;
    let pool = DedicatedPool::new(PoolConfig::new("propagator").low_priority(true))?;
    // Sweeps every 0.25 s: about 245,000 records, more than a paced run sends.
    let cadence_s = 0.25;
    let fixture = Fixture::generate(cadence_s)?;
    if !skip.contains("paced") {
        paced(&rt, &pool, &fixture, quick, rounds)?;
    }
    if !skip.contains("saturation") {
        let rounds = env("SDA_BENCH_SAT_ROUNDS", if quick { 1 } else { rounds });
        saturated(&rt, &pool, quick, rounds, &fixture, cadence_s)?;
    }
    if recoveries > 0 && !skip.contains("recovery") {
        let mut to_line = Vec::new();
        let mut to_checkpoint = Vec::new();
        for _ in 0..recoveries {
            let (line, checkpoint) = recovery(&scratch("recovery"), if quick { 3.0 } else { 4.0 })?;
            to_line.push(line);
            to_checkpoint.push(checkpoint);
        }
        println!(
            "recovery after kill -9 ({recoveries}x): first new observation s {}  first checkpoint s {}",
            spread(&to_line, 3),
            spread(&to_checkpoint, 3)
        );
        let _ = std::fs::remove_dir_all(scratch("recovery"));
    }
    Ok(())
}
