//! Soak harness: runs the real `sda-ingest` binary at twice the nominal profile for ten minutes
//! on a scenario large enough that every record is unique, and samples its resident memory
//! (`/proc/<pid>/status`) and its queue depths (`edge_queue_depth` from `/metrics`).
//!
//! `cargo bench -p sda-ingest --bench soak`. Knobs (environment): `SDA_SOAK_MINUTES` (10),
//! `SDA_SOAK_RATE` (2, the load multiplier), `SDA_SOAK_CADENCE_S` (0.05 s between simulated
//! sweeps: about 1.2 million unique records, so that even the shortest of the eight streams
//! lasts the whole run at 2x; a stream that ends anyway is replayed, and its re-sends are
//! removed as duplicates),
//! `SDA_SOAK_WARMUP_S` (300), `SDA_SOAK_SAMPLE_S` (10).
//!
//! The warm-up is five minutes because that is how long the service's bounded state takes to
//! fill at 2x: the dedup window holds at most 100,000 keys, reached after 250 s at 400
//! records/s. Memory growth before that is the window filling to its bound, by design.
//!
//! Pass criteria (printed, and the exit code): resident memory at the end is less than 5%
//! above its level just after warm-up (median of the minute after warm-up against the median
//! of the last minute), no queue ever deeper than its capacity, and a clean SIGTERM drain with
//! `lost` 0 and no restarts. Linux only (it reads `/proc`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One sample of the running service.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    deepest_queue: f64,
    deepest_capacity: f64,
    received: f64,
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// `GET /metrics` over a plain socket (HTTP/1.0, so the server closes when done).
fn scrape(addr: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (_, body) = response.split_once("\r\n\r\n").context("no body")?;
    Ok(body.to_owned())
}

/// `(name, labels, value)` of each sample line.
fn series(text: &str) -> impl Iterator<Item = (&str, &str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (name, labels) = key.split_once('{').unwrap_or((key, ""));
            Some((name, labels, value.parse().ok()?))
        })
}

fn sample(pid: u32, addr: &str, started: Instant) -> anyhow::Result<Sample> {
    let text = scrape(addr)?;
    let mut capacity = std::collections::HashMap::new();
    for (name, labels, value) in series(&text) {
        if name == "edge_capacity" {
            capacity.insert(labels.to_owned(), value);
        }
    }
    let (mut deepest_queue, mut deepest_capacity, mut received) = (0.0, 0.0, 0.0);
    for (name, labels, value) in series(&text) {
        if name == "edge_queue_depth" && value >= deepest_queue {
            deepest_queue = value;
            deepest_capacity = capacity.get(labels).copied().unwrap_or(f64::NAN);
        }
        if name == "ingest_records_total" && labels.contains("\"received\"") {
            received = value;
        }
    }
    Ok(Sample {
        at_s: started.elapsed().as_secs_f64(),
        rss_kib: rss_kib(pid)?,
        deepest_queue,
        deepest_capacity,
        received,
    })
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let minutes: f64 = env("SDA_SOAK_MINUTES", 10.0);
    let rate: f64 = env("SDA_SOAK_RATE", 2.0);
    let cadence: f64 = env("SDA_SOAK_CADENCE_S", 0.05);
    let warmup = env("SDA_SOAK_WARMUP_S", 300.0);
    let every = Duration::from_secs_f64(env("SDA_SOAK_SAMPLE_S", 10.0));
    let run = Duration::from_secs_f64(warmup + minutes * 60.0);
    let out = tempfile::tempdir()?;

    let mut child = Command::new(env!("CARGO_BIN_EXE_sda-ingest"))
        .args([
            "--rate",
            &rate.to_string(),
            "--cadence",
            &cadence.to_string(),
        ])
        .args(["--log-format", "json", "--control-addr", "127.0.0.1:0"])
        .args(["--progress-interval", "30", "--passes", "1000"])
        .arg("--out")
        .arg(out.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = mpsc::channel::<String>();
    // Drain stderr for the whole run (a full pipe would stall the service's logging).
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(120))?;
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if event["message"] == "simulator ready" {
            println!("scenario: {} records", event["records"]);
        }
        if event["message"] == "control plane listening (http)" {
            break event["addr"].as_str().context("addr")?.to_owned();
        }
    };
    let started = Instant::now();
    println!(
        "soak: pid {pid}, rate {rate}x, {minutes} min after {warmup} s warm-up, sampling every {every:?}"
    );
    println!(
        "{:>7} {:>10} {:>12} {:>10} {:>12}",
        "t (s)", "RSS (MiB)", "deepest q", "capacity", "obs/s"
    );
    let mut samples: Vec<Sample> = Vec::new();
    while started.elapsed() < run {
        std::thread::sleep(every);
        let s = sample(pid, &addr, started)?;
        let rate = samples.last().map_or(0.0, |p| {
            (s.received - p.received) / (s.at_s - p.at_s).max(1e-9)
        });
        println!(
            "{:>7.0} {:>10.1} {:>12.0} {:>10.0} {:>12.1}",
            s.at_s,
            s.rss_kib as f64 / 1024.0,
            s.deepest_queue,
            s.deepest_capacity,
            rate
        );
        samples.push(s);
    }

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill failed");
    }
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("stdout")?
        .read_to_string(&mut stdout)?;
    let code = child.wait()?.code();
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))?;

    let window = |from: f64, to: f64| -> Vec<u64> {
        samples
            .iter()
            .filter(|s| s.at_s >= from && s.at_s < to)
            .map(|s| s.rss_kib)
            .collect()
    };
    let end = samples.last().map_or(0.0, |s| s.at_s);
    let after_warmup = median(window(warmup, warmup + 60.0));
    let last_minute = median(window(end - 60.0, end + 1.0));
    let growth = (last_minute as f64 - after_warmup as f64) / after_warmup.max(1) as f64 * 100.0;
    let deepest = samples
        .iter()
        .map(|s| s.deepest_queue / s.deepest_capacity)
        .fold(0.0, f64::max);
    let bounded = samples
        .iter()
        .all(|s| s.deepest_queue <= s.deepest_capacity);
    let received = summary["received"].as_u64().unwrap_or(0);
    println!();
    println!(
        "RSS after warm-up (median of minute {:.0}-{:.0} s): {:.1} MiB",
        warmup,
        warmup + 60.0,
        after_warmup as f64 / 1024.0
    );
    println!(
        "RSS over the last minute (median):          {:.1} MiB",
        last_minute as f64 / 1024.0
    );
    println!("RSS growth after warm-up: {growth:+.2}% (limit +5%)");
    println!(
        "deepest queue / its capacity at any sample: {:.3} (bounded: {bounded})",
        deepest
    );
    println!(
        "records received: {received} ({:.0}/s over the run); exit code {code:?}",
        received as f64 / end.max(1.0)
    );
    println!("summary: {summary}");
    let clean = code == Some(0) && summary["lost"] == 0 && summary["restarts"] == 0;
    if growth >= 5.0 || !bounded || !clean {
        bail!("soak failed: growth {growth:+.2}%, bounded {bounded}, clean {clean}");
    }
    println!("soak passed");
    Ok(())
}
