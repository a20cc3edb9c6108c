//! Open-loop latency of the real service, load from another process.
//!
//! This harness starts the `sda-ingest` binary (release) as a child process and is its peers:
//! it sends radar datagrams to the service's UDP socket, serves the ISL link the service
//! connects to (TCP) and the optical archive the service polls (HTTP), each transport at a
//! third of the offered rate, every record stamped with its **scheduled** send time
//! (`common/loadgen.rs`). It follows `audit.jsonl` and `alerts.jsonl` as they are written and
//! measures, on its own monotonic clock, from the schedule to the line in the file: the audit
//! path for every record it sent, and the correlator → alerts path for every alert, from the
//! scheduled record that made it due under the correlator's screening rule
//! (`loadgen::alert_due`). HDR histograms (`hdrhistogram`).
//!
//! After the load, the harness waits (at most 60 s) until every record it sent is in
//! `audit.jsonl`, stops the service with SIGTERM, and reads `lost` and the per-source
//! accounting from its summary. The service's five in-process simulated sources run at
//! `--rate 0.001` (a record each at start, then one every 40 s): background only, and not
//! measured. Screening starts 3,500 s into the scenario (`--screen-start`), so that no screening
//! is due until the load's records have moved the epochs on: every alert is raised by the load.
//!
//! `cargo bench -p sda-ingest --bench open_loop`. Knobs (environment): `SDA_BENCH_QUICK=1`
//! (2 rounds of 10 s at 10,000 obs/s: under a minute), `SDA_BENCH_RATES` (comma-separated
//! offered obs/s, all transports together; default 250000), `SDA_BENCH_RUN_S` (seconds of load per run, default
//! 60), `SDA_BENCH_ROUNDS` (default 5; the rates are interleaved within each round),
//! `SDA_BENCH_CADENCE_S` (the scenario's sweep interval, default 0.25 s), `SDA_BENCH_OUT_DIR`
//! (where the service's output folders go, default the system's temporary folder; e.g.
//! `/dev/shm` to take the disk out of the measurement).

mod common;

#[path = "common/loadgen.rs"]
mod loadgen;

use std::io::Read as _;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use loadgen::{Peers, Records, ScreeningRule, TRANSPORTS, TailClock};
use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
use serde_json::Value;

/// Screening lookahead of the service (its default).
const LOOKAHEAD_S: f64 = 3_600.0;
/// The service's minimum screening step (its default).
const MIN_STEP_S: f64 = 600.0;
/// Screening starts this far into the scenario.
const SCREEN_START_S: f64 = 3_500.0;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One run's figures.
struct Run {
    rate: f64,
    sent: [u64; 3],
    send_errors: u64,
    behind_max_ms: f64,
    seen: [u64; 3],
    all: Histogram<u64>,
    by_transport: [Histogram<u64>; 3],
    alerts: Vec<loadgen::AlertSeen>,
    worst_by_second: Vec<u64>,
    summary: Value,
    exit: Option<i32>,
    drain_s: f64,
    /// CPU the service process used during the load and its drain, seconds.
    service_cpu_s: f64,
    /// CPU this process (load generator and tailer) used meanwhile, seconds.
    own_cpu_s: f64,
}

impl Run {
    /// Nothing lost: every record sent is in `audit.jsonl`, the summary says `lost` 0, and the
    /// service exited 0.
    fn lossless(&self) -> bool {
        self.sent == self.seen && self.summary["lost"] == 0 && self.exit == Some(0)
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let rounds: usize = env("SDA_BENCH_ROUNDS", if quick { 2 } else { 5 });
    let run_s: f64 = env("SDA_BENCH_RUN_S", if quick { 10.0 } else { 60.0 });
    let cadence_s: f64 = env("SDA_BENCH_CADENCE_S", 0.25);
    let rates: Vec<f64> = std::env::var("SDA_BENCH_RATES")
        .unwrap_or_else(|_| if quick { "10000" } else { "250000" }.into())
        .split(',')
        .map(|r| r.trim().parse::<f64>().context("SDA_BENCH_RATES"))
        .collect::<anyhow::Result<_>>()?;
    println!("load average at start: {:.2}", common::load_average());
    let config = ScenarioConfig {
        cadence_s,
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::generate(&config)?;
    let records = Arc::new(Records::from_streams(&scenario.streams, &scenario.sensors)?);
    println!(
        "scenario: cadence {cadence_s} s; one pass = {} radar, {} isl, {} optical records; \
         {run_s} s per run, {rounds} rounds",
        records.len(0),
        records.len(1),
        records.len(2)
    );
    let mut runs: Vec<Vec<Run>> = rates.iter().map(|_| Vec::new()).collect();
    println!(
        "\n{:>5} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>5}",
        "round",
        "rate",
        "sent",
        "audited",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "alerts",
        "lost",
        "exit"
    );
    for round in 0..rounds {
        for k in 0..rates.len() {
            let i = (k + round) % rates.len();
            let run = run_once(&records, &config, rates[i], run_s)?;
            let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
            println!(
                "{round:>5} {:>8.0} {:>9} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>6} {:>5}",
                run.rate,
                run.sent.iter().sum::<u64>(),
                run.seen.iter().sum::<u64>(),
                q(&run.all, 0.5),
                q(&run.all, 0.99),
                q(&run.all, 0.999),
                run.all.max() as f64 / 1e3,
                run.alerts.len(),
                run.summary["lost"],
                run.exit.map_or("-".into(), |c| c.to_string()),
            );
            println!(
                "      per transport p99 (ms): {}; sender behind at most {:.1} ms, {} send errors; \
                 drain {:.1} s; summary: received {} delivered {} dead_lettered {} kernel_dropped {}",
                (0..3)
                    .map(|t| format!(
                        "{} {:.2} ({}/{})",
                        TRANSPORTS[t],
                        q(&run.by_transport[t], 0.99),
                        run.seen[t],
                        run.sent[t]
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                run.behind_max_ms,
                run.send_errors,
                run.drain_s,
                run.summary["received"],
                run.summary["delivered"],
                run.summary["dead_lettered"],
                run.summary["kernel_dropped"],
            );
            let alerts: Vec<String> = run
                .alerts
                .iter()
                .map(|a| match a.latency_ms {
                    Some(ms) => format!("{ms:.1}"),
                    None => "not from the load".into(),
                })
                .collect();
            println!("      alert latencies (ms): [{}]", alerts.join(", "));
            let sent: u64 = run.sent.iter().sum();
            println!(
                "      CPU during the load: service {:.1} s ({:.2} µs per record, {:.2} cores), \
                 load generator and tailer {:.1} s ({:.2} cores)",
                run.service_cpu_s,
                run.service_cpu_s * 1e6 / sent.max(1) as f64,
                run.service_cpu_s / (sent as f64 / run.rate + run.drain_s),
                run.own_cpu_s,
                run.own_cpu_s / (sent as f64 / run.rate + run.drain_s),
            );
            let worst: Vec<String> = run
                .worst_by_second
                .iter()
                .map(|us| format!("{:.0}", *us as f64 / 1e3))
                .collect();
            println!(
                "      worst audit latency by second of the run (ms): {}",
                worst.join(" ")
            );
            runs[i].push(run);
        }
    }
    println!(
        "\nall rounds merged (HDR histograms added); per-round p99 in brackets; lossless = every \
         record sent is in audit.jsonl, summary lost 0, exit 0"
    );
    println!(
        "| offered obs/s | runs lossless | audit p50 | audit p99 (per round) | audit p99.9 | audit max | radar / isl / optical p99 | alerts | alert latency p50 / max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, rate) in rates.iter().enumerate() {
        let rs = &runs[i];
        let mut all = loadgen::histogram();
        let mut by: [Histogram<u64>; 3] = [
            loadgen::histogram(),
            loadgen::histogram(),
            loadgen::histogram(),
        ];
        for r in rs {
            all.add(&r.all)?;
            for (total, one) in by.iter_mut().zip(&r.by_transport) {
                total.add(one)?;
            }
        }
        let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
        let per_round: Vec<String> = rs
            .iter()
            .map(|r| format!("{:.1}", q(&r.all, 0.99)))
            .collect();
        let mut alert_ms: Vec<f64> = rs
            .iter()
            .flat_map(|r| r.alerts.iter().filter_map(|a| a.latency_ms))
            .collect();
        alert_ms.sort_by(f64::total_cmp);
        println!(
            "| {rate:.0} | {}/{} | {:.2} ms | {:.2} ms ({}) | {:.2} ms | {:.1} ms | {:.2} / {:.2} / {:.2} ms | {} | {:.1} / {:.1} ms |",
            rs.iter().filter(|r| r.lossless()).count(),
            rs.len(),
            q(&all, 0.5),
            q(&all, 0.99),
            per_round.join(", "),
            q(&all, 0.999),
            all.max() as f64 / 1e3,
            q(&by[0], 0.99),
            q(&by[1], 0.99),
            q(&by[2], 0.99),
            alert_ms.len(),
            common::quantile(&alert_ms, 0.5),
            alert_ms.last().copied().unwrap_or(f64::NAN),
        );
    }
    println!("load average at end: {:.2}", common::load_average());
    Ok(())
}

/// The service's screening start, RFC 3339.
fn screen_start(config: &ScenarioConfig) -> anyhow::Result<String> {
    let at = chrono::DateTime::from_timestamp((config.start_unix_s + SCREEN_START_S) as i64, 0)
        .context("screen start out of range")?;
    Ok(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Sends SIGTERM to `child` and waits at most `within` for it to exit (then SIGKILL).
fn stop_child(child: &mut Child, within: Duration) -> anyhow::Result<Option<i32>> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code());
        }
        if Instant::now() > deadline {
            eprintln!("the service did not exit within {within:?} of SIGTERM: killed");
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_once(
    records: &Arc<Records>,
    config: &ScenarioConfig,
    rate: f64,
    run_s: f64,
) -> anyhow::Result<Run> {
    let out = match std::env::var_os("SDA_BENCH_OUT_DIR") {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    let radar_addr = UdpSocket::bind(("127.0.0.1", 0))?.local_addr()?;
    let peers = Peers::start(records.clone(), radar_addr)?;
    let log = std::fs::File::create(out.path().join("service.log"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sda-ingest"))
        .args(["--radar-bind", &radar_addr.to_string()])
        .args(["--isl-connect", &peers.isl_addr()?.to_string()])
        .args(["--optical-url", &peers.optical_url()])
        .args(["--rate", "0.001", "--screen-start", &screen_start(config)?])
        .args(["--no-control", "--log-format", "json"])
        .args(["--progress-interval", "3600"])
        .arg("--out")
        .arg(out.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let result = drive(records, config, rate, run_s, &mut child, out.path(), &peers);
    peers.close()?;
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(out.path().join("service.log")).unwrap_or_default();
        eprintln!("service log (last lines):");
        for line in log
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("  {line}");
        }
    }
    result
}

fn drive(
    records: &Arc<Records>,
    config: &ScenarioConfig,
    rate: f64,
    run_s: f64,
    child: &mut Child,
    dir: &std::path::Path,
    peers: &Peers,
) -> anyhow::Result<Run> {
    let records_for_alerts = records.clone();
    let rule = ScreeningRule {
        screen_from: config.start_unix_s + SCREEN_START_S,
        lookahead_s: LOOKAHEAD_S,
        min_step_s: MIN_STEP_S,
    };
    let clock = Arc::new(TailClock {
        schedules: std::sync::OnceLock::new(),
        alert_due: Box::new(move |s, tca| loadgen::alert_due(&records_for_alerts, s, rule, tca)),
        warmup: Duration::ZERO,
    });
    let pid = child.id().to_string();
    let (service_cpu, own_cpu) = (common::cpu_seconds_of(&pid), common::process_cpu_seconds());
    let driven = peers.drive(dir, rate, run_s, clock, Duration::from_secs(60), || {
        Ok(child.try_wait()?.is_none())
    })?;
    // CPU of the load (schedule and drain; the service's start-up too, a tenth of a second at
    // most), before the service starts its shutdown.
    let service_cpu = common::cpu_seconds_of(&pid) - service_cpu;
    let own_cpu = common::process_cpu_seconds() - own_cpu;
    let exit = stop_child(child, Duration::from_secs(60))?;
    let (sent, send_errors, behind_max, drain_s) = (
        driven.sent,
        driven.send_errors,
        driven.behind_max,
        driven.drain_s,
    );
    let tail = driven.finish()?;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)?;
    }
    let summary: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    Ok(Run {
        rate,
        sent,
        send_errors,
        behind_max_ms: behind_max.as_secs_f64() * 1e3,
        seen: tail.seen,
        all: tail.all,
        by_transport: tail.by_transport,
        alerts: tail.alerts,
        worst_by_second: tail.worst_by_second,
        summary,
        exit,
        drain_s,
        service_cpu_s: service_cpu,
        own_cpu_s: own_cpu,
    })
}
