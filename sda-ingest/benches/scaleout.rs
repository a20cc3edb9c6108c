//! Edge → broker → core against one process, the same scenario, interleaved.
//!
//! Each round runs the service binary twice on the same generated scenario (in-process
//! sources, paced at `SDA_BENCH_RATE` × 200 records/s, one pass): **A** `--role all` (one
//! process, no broker) and **B** `--role edge` + `--role core` around a `nats-server -js`
//! started for the round on a free loopback port with a fresh store. For each run:
//! observations per second (audit records over the first `received_at` to the last
//! `written_at`) and the source-to-audit latency (`written_at − received_at` from
//! `audit.jsonl`: the record's receive time is stamped by the source when the paced simulator
//! hands it over, on the same clock the sink stamps; the edge carries it to the core in the
//! observation). Rounds alternate A/B and B/A; the B/A ratios are taken per round.
//!
//! `cargo bench -p sda-ingest --bench scaleout` (needs `nats-server`, Debian package
//! `nats-server`). Knobs: `SDA_BENCH_QUICK=1` (2 rounds of a small scenario, under a minute),
//! `SDA_BENCH_ROUNDS` (default 5), `SDA_BENCH_CADENCE_S` (the scenario's sweep interval,
//! default 2 s: about 31,000 records), `SDA_BENCH_RATE` (default 50: 10,000 records/s offered).

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use common::{Latencies, median};

/// The longest a run may take.
const RUN_LIMIT: Duration = Duration::from_secs(300);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Knobs {
    rounds: usize,
    cadence: f64,
    rate: f64,
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_sda-ingest")
}

fn service(out: &Path, knobs: &Knobs, extra: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["--transport", "inprocess", "--seed", "7", "--no-control"])
        .args(["--log-format", "json"])
        .args(["--cadence", &knobs.cadence.to_string()])
        .args(["--rate", &knobs.rate.to_string()])
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// Waits for `child` at most until `deadline`, killing it then.
fn wait_bounded(child: &mut Child, deadline: Instant, what: &str) -> anyhow::Result<()> {
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("{what} exited with {status}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// A: the whole pipeline in one process. Returns its latencies and how many it delivered.
fn single(dir: &Path, knobs: &Knobs) -> anyhow::Result<(Latencies, usize)> {
    let out = dir.join("all");
    let mut child = service(&out, knobs, &["--passes", "1"]).spawn()?;
    wait_bounded(&mut child, Instant::now() + RUN_LIMIT, "--role all")?;
    let delivered = lines(&out.join("observations.jsonl"));
    Ok((Latencies::read(&out)?, delivered))
}

/// A `nats-server -js` for one round, killed when dropped.
struct Broker {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl Broker {
    fn start() -> anyhow::Result<Broker> {
        let store = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("nats-server (Debian package `nats-server`) must be installed")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Broker {
            child,
            port,
            _store: store,
        })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// B: edge and core around a broker, until the core has written `expected` observations.
fn split(dir: &Path, knobs: &Knobs, expected: usize) -> anyhow::Result<Latencies> {
    let broker = Broker::start()?;
    let url = format!("nats://127.0.0.1:{}", broker.port);
    let core_out = dir.join("core");
    let mut core = service(&core_out, knobs, &["--role", "core", "--nats", &url]).spawn()?;
    let mut edge = service(
        &dir.join("edge"),
        knobs,
        &["--role", "edge", "--nats", &url, "--passes", "1"],
    )
    .spawn()?;
    let deadline = Instant::now() + RUN_LIMIT;
    wait_bounded(&mut edge, deadline, "--role edge")?;
    while lines(&core_out.join("observations.jsonl")) < expected {
        if Instant::now() > deadline || core.try_wait()?.is_some() {
            let _ = core.kill();
            bail!(
                "the core wrote {} of {expected} observations",
                lines(&core_out.join("observations.jsonl"))
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-TERM", &core.id().to_string()])
        .status()?;
    wait_bounded(
        &mut core,
        Instant::now() + Duration::from_secs(30),
        "--role core",
    )?;
    Latencies::read(&core_out)
}

struct Row {
    per_s: f64,
    p50: f64,
    p99: f64,
}

fn row(l: &Latencies) -> Row {
    Row {
        per_s: l.per_s(),
        p50: l.quantile(0.5),
        p99: l.quantile(0.99),
    }
}

fn spread(xs: &[f64]) -> String {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.3} [{min:.3}–{max:.3}]", median(xs))
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::var("SDA_BENCH_QUICK").is_ok_and(|v| v == "1");
    let knobs = Knobs {
        rounds: env_or("SDA_BENCH_ROUNDS", if quick { 2 } else { 5 }),
        cadence: env_or("SDA_BENCH_CADENCE_S", if quick { 10.0 } else { 2.0 }),
        rate: env_or("SDA_BENCH_RATE", 50.0),
    };
    println!(
        "scaleout: {} rounds, cadence {} s, rate ×{} ({} records/s offered)",
        knobs.rounds,
        knobs.cadence,
        knobs.rate,
        knobs.rate * 200.0
    );
    let (mut a_rows, mut b_rows, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..knobs.rounds {
        let dir = tempfile::tempdir()?;
        let a_dir: PathBuf = dir.path().join("a");
        let b_dir: PathBuf = dir.path().join("b");
        // A/B, then B/A: each order half the time. B needs A's count first, so B/A runs a
        // first A to learn it, uncounted.
        let (a, b) = if round % 2 == 0 {
            let (a, expected) = single(&a_dir, &knobs)?;
            (a, split(&b_dir, &knobs, expected)?)
        } else {
            let (_, expected) = single(&dir.path().join("warm"), &knobs)?;
            let b = split(&b_dir, &knobs, expected)?;
            (single(&a_dir, &knobs)?.0, b)
        };
        let (a, b) = (row(&a), row(&b));
        println!(
            "round {round}: one process {:>8.0} obs/s p50 {:>7.2} ms p99 {:>8.2} ms | edge→broker→core {:>8.0} obs/s p50 {:>7.2} ms p99 {:>8.2} ms",
            a.per_s, a.p50, a.p99, b.per_s, b.p50, b.p99
        );
        ratios.push((b.per_s / a.per_s, b.p99 / a.p99));
        a_rows.push(a);
        b_rows.push(b);
    }
    let col = |rows: &[Row], f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<_>>();
    println!("median [min–max] over {} rounds:", knobs.rounds);
    println!(
        "  one process:      {} obs/s, p99 {} ms",
        spread(&col(&a_rows, |r| r.per_s)),
        spread(&col(&a_rows, |r| r.p99))
    );
    println!(
        "  edge→broker→core: {} obs/s, p99 {} ms",
        spread(&col(&b_rows, |r| r.per_s)),
        spread(&col(&b_rows, |r| r.p99))
    );
    println!(
        "  B/A per round: throughput {}, p99 {}",
        spread(&ratios.iter().map(|r| r.0).collect::<Vec<_>>()),
        spread(&ratios.iter().map(|r| r.1).collect::<Vec<_>>())
    );
    Ok(())
}
