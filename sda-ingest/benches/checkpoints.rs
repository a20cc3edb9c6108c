//! What checkpoints cost, and how fast a crashed service recovers.
//!
//! **Cost.** The real topology (`build_topology` over `Parts`, all eight sources replayed
//! in-process, the correlator on the PropagatorPool) runs at a fixed paced rate three ways,
//! interleaved in every round (A/B/C, rotated): no checkpoints, a checkpoint every 10 s, and
//! one every 1 s (the sinks flush and `fsync` at each barrier, every registered state is
//! written). For each run: observations per second delivered and the p50/p99 source-to-audit
//! latency (from `audit.jsonl`, as the other pipeline benchmarks), and for the checkpointed
//! runs how many completed, the last one's size and duration. Medians over the rounds, with
//! the spread, and the throughput ratio of each against no checkpoints from the same rounds.
//!
//! **Recovery.** The `sda-ingest` binary (default scenario and rate, in-process replay) with
//! `--checkpoint-interval 1` is killed with SIGKILL a few seconds into a run and started again with `--resume`: the time from the restart to
//! its first new observation line in `observations.jsonl` (the graph built, the checkpoint
//! read, the replay resumed and the first record through), and to its first completed
//! checkpoint.
//!
//! `cargo bench -p sda-ingest --bench checkpoints`. Knobs: `SDA_BENCH_QUICK=1` (under a
//! minute: 5 rounds of 1.5 s runs and one recovery), `SDA_BENCH_ROUNDS` (default 5),
//! `SDA_BENCH_LIMIT_S` (run length, default 4 s), `SDA_BENCH_RATE` (rate multiplier, default
//! 100: 2,500 records/s per source), `SDA_BENCH_RECOVERIES` (default 3).

mod common;

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

fn main() -> anyhow::Result<()> {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let rounds: usize = env("SDA_BENCH_ROUNDS", 5);
    let limit = Duration::from_secs_f64(env("SDA_BENCH_LIMIT_S", if quick { 1.5 } else { 4.0 }));
    let rate: f64 = env("SDA_BENCH_RATE", 100.0);
    let recoveries: usize = env("SDA_BENCH_RECOVERIES", if quick { 1 } else { 3 });
    // Sweeps every 0.25 s: about 245,000 records, more than a run at this rate sends.
    let fixture = Fixture::generate(0.25)?;
    let rt = runtime()?;
    let pool = DedicatedPool::new(PoolConfig::new("propagator").low_priority(true))?;
    let modes: [(&str, Option<Duration>); 3] = [
        ("none", None),
        ("every 10 s", Some(Duration::from_secs(10))),
        ("every 1 s", Some(Duration::from_secs(1))),
    ];
    let dir = scratch("checkpoints");
    let mut figures: Vec<Vec<Figures>> = (0..modes.len()).map(|_| Vec::new()).collect();
    println!(
        "checkpoints: rate {rate}x ({} records/s per source), {:.1} s runs, {rounds} rounds, load {:.2}",
        sda_ingest::simulator::BASE_RECORDS_PER_S * rate,
        limit.as_secs_f64(),
        common::load_average()
    );
    for round in 0..rounds {
        for k in 0..modes.len() {
            let m = (round + k) % modes.len();
            let f = rt.block_on(run(&fixture, &pool, rate, modes[m].1, limit, &dir))?;
            figures[m].push(f);
        }
    }
    let base: Vec<f64> = figures[0].iter().map(|f| f.per_s).collect();
    for (m, (name, _)) in modes.iter().enumerate() {
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
    let mut to_line = Vec::new();
    let mut to_checkpoint = Vec::new();
    for _ in 0..recoveries {
        let (line, checkpoint) = recovery(&scratch("recovery"), if quick { 3.0 } else { 4.0 })?;
        to_line.push(line);
        to_checkpoint.push(checkpoint);
    }
    println!(
        "  recovery after kill -9 ({recoveries}x): first new observation s {}  first checkpoint s {}",
        spread(&to_line, 3),
        spread(&to_checkpoint, 3)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(scratch("recovery"));
    Ok(())
}
