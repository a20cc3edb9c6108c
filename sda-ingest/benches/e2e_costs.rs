//! What the service's extras cost end to end, each against its baseline in the same run.
//!
//! The real topology (`build_topology` over `Parts`, all eight sources replayed in-process, the
//! correlator on the PropagatorPool) runs one unpaced pass over a generated scenario: every
//! source hands over its whole stream at once, so the pipeline runs flat out and the figure is
//! its throughput (audit records ÷ first `received_at` → last `written_at`) and the process CPU
//! time per record. Five variants, interleaved (the order rotates each round):
//!
//! * `hand-wired` — the same stage kernels over plain tokio mpsc channels
//!   (`common/handwired.rs`): the baseline of the orchestrator's own cost;
//! * `service` — the orchestrated pipeline as the service runs it: stall watchdog on (the
//!   supervisor's default), `audit.jsonl` hash-chained, the HTTP control plane served on
//!   loopback with no client;
//! * `no watchdog` — the same with `SupervisorPolicy::with_stall_watchdog(false)` (the
//!   supervisor's watchdog tick is gone; the per-operator progress it reads is the edges' own
//!   counters, kept either way);
//! * `no audit chain` — the same with `Parts::chain_audit = false` (plain `audit.jsonl`);
//! * `10 SSE clients` — the service variant with ten clients reading `GET /events`
//!   (reqwest, streaming) for the whole run.
//!
//! Ratios: `service ÷ hand-wired`, and for each extra `service ÷ without it` (`10 SSE ÷
//! service` for the event stream): below 1 is what the extra costs. Of the medians, and the
//! median and range of the per-round ratios (each round's runs are neighbours in time).
//!
//! `cargo bench -p sda-ingest --bench e2e_costs`. Knobs (environment): `SDA_BENCH_QUICK=1`
//! (3 rounds on a smaller scenario: under a minute), `SDA_BENCH_ROUNDS` (default 15),
//! `SDA_BENCH_CADENCE_S` (default 0.25 s: about 245,000 records), `SDA_BENCH_ONLY=<variants>`
//! (run only these, comma-separated by their names in the table, e.g. `hand-wired,service`:
//! more rounds of one comparison, or one variant alone for a profiler).

mod common;

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/handwired.rs"]
mod handwired;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, Latencies, median, runtime, scratch};
use sda_ingest::pipeline::build_topology;
use sda_ingest::pipeline::operators::PropagatorRuntime;
use sda_orchestrator::http::{ControlPlane, ServeLimits, serve_with};
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};
use tokio_util::sync::CancellationToken;

/// The unpaced rate: every record is due at the first tick after the first.
const UNPACED: f64 = 1.0e9;
/// SSE clients of the event-stream variant.
const SSE_CLIENTS: usize = 10;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    HandWired,
    Service,
    NoWatchdog,
    NoAuditChain,
    Sse,
}

const VARIANTS: [Variant; 5] = [
    Variant::HandWired,
    Variant::Service,
    Variant::NoWatchdog,
    Variant::NoAuditChain,
    Variant::Sse,
];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::HandWired => "hand-wired",
            Variant::Service => "service",
            Variant::NoWatchdog => "no watchdog",
            Variant::NoAuditChain => "no audit chain",
            Variant::Sse => "10 SSE clients",
        }
    }
}

/// One run's figures.
struct Run {
    records: usize,
    per_s: f64,
    cpu_us: f64,
    lossless: bool,
    /// Bytes the SSE clients read, over all of them (0 when none attached).
    sse_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some();
    let rounds: usize = env("SDA_BENCH_ROUNDS", if quick { 3 } else { 15 });
    let cadence_s: f64 = env("SDA_BENCH_CADENCE_S", if quick { 0.5 } else { 0.25 });
    println!("load average at start: {:.2}", common::load_average());
    let fixture = Fixture::generate(cadence_s)?;
    println!(
        "scenario: cadence {cadence_s} s, {} records, generated in {:.1} s; {rounds} rounds",
        fixture.scenario.expected.messages, fixture.generate_s
    );
    let rt = runtime()?;
    let pool = DedicatedPool::new(PoolConfig::new("propagator").low_priority(true))?;
    let only: Option<Vec<String>> = std::env::var("SDA_BENCH_ONLY")
        .ok()
        .map(|list| list.split(',').map(|name| name.trim().to_owned()).collect());
    let mut results: Vec<Vec<Run>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    println!(
        "\n{:>5} {:<16} {:>8} {:>9} {:>11} {:>10} {:>6}",
        "round", "variant", "records", "obs/s", "cpu µs/rec", "SSE bytes", "loss"
    );
    for round in 0..rounds {
        for k in 0..VARIANTS.len() {
            let i = (k + round) % VARIANTS.len();
            if only
                .as_ref()
                .is_some_and(|names| !names.iter().any(|n| n == VARIANTS[i].name()))
            {
                continue;
            }
            let run = rt.block_on(run_once(&fixture, &pool, VARIANTS[i]))?;
            println!(
                "{round:>5} {:<16} {:>8} {:>9.0} {:>11.2} {:>10} {:>6}",
                VARIANTS[i].name(),
                run.records,
                run.per_s,
                run.cpu_us,
                run.sse_bytes,
                if run.lossless { "none" } else { "LOST" },
            );
            results[i].push(run);
        }
    }
    rt.block_on(pool.shutdown(Duration::from_secs(5)))?;

    let m = |runs: &[Run], f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    println!("\nmedians of {rounds} rounds");
    println!("| variant | obs/s | CPU µs/record | lossless |");
    println!("|---|---|---|---|");
    for (i, v) in VARIANTS.iter().enumerate() {
        let rs = &results[i];
        if rs.is_empty() {
            continue;
        }
        println!(
            "| {} | {:.0} | {:.2} | {}/{} |",
            v.name(),
            m(rs, |r| r.per_s),
            m(rs, |r| r.cpu_us),
            rs.iter().filter(|r| r.lossless).count(),
            rs.len()
        );
    }
    println!(
        "\n| comparison | throughput ratio (of medians) | per round: median [min–max] | CPU per record ratio (of medians) |"
    );
    println!("|---|---|---|---|");
    let index = |v: Variant| VARIANTS.iter().position(|&x| x == v).unwrap_or(0);
    for (what, num, den) in [
        (
            "orchestrated (service) ÷ hand-wired",
            Variant::Service,
            Variant::HandWired,
        ),
        ("watchdog on ÷ off", Variant::Service, Variant::NoWatchdog),
        (
            "audit chain on ÷ off",
            Variant::Service,
            Variant::NoAuditChain,
        ),
        ("10 SSE clients ÷ none", Variant::Sse, Variant::Service),
    ] {
        let (a, b) = (&results[index(num)], &results[index(den)]);
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let mut per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| x.per_s / y.per_s).collect();
        per_round.sort_by(f64::total_cmp);
        println!(
            "| {what} | {:.3} | {:.3} [{:.3}–{:.3}] | {:.3} |",
            m(a, |r| r.per_s) / m(b, |r| r.per_s),
            median(&per_round),
            per_round.first().copied().unwrap_or(f64::NAN),
            per_round.last().copied().unwrap_or(f64::NAN),
            m(a, |r| r.cpu_us) / m(b, |r| r.cpu_us),
        );
    }
    println!("load average at end: {:.2}", common::load_average());
    Ok(())
}

async fn run_once(
    fixture: &Fixture,
    pool: &DedicatedPool,
    variant: Variant,
) -> anyhow::Result<Run> {
    let dir = scratch("costs");
    let propagator = PropagatorRuntime::Pool(pool.clone());
    let mut sse_bytes = 0;
    let result = if variant == Variant::HandWired {
        handwired::run_fixture(fixture, UNPACED, propagator, &dir, None).await?
    } else {
        let mut parts = fixture.parts(UNPACED, propagator, 1, &dir);
        parts.chain_audit = variant != Variant::NoAuditChain;
        common::prepare_out_dir(&dir)?;
        let started = Instant::now();
        let built = build_topology(&parts).build()?;
        let policy = common::service_policy().with_stall_watchdog(variant != Variant::NoWatchdog);
        // The control plane, as the service serves it, on loopback.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let server = tokio::spawn(serve_with(
            listener,
            ControlPlane::for_graph(&built),
            ServeLimits::default(),
            async move { stopped.cancelled().await },
        ));
        let read = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::new();
        if variant == Variant::Sse {
            let client = reqwest::Client::new();
            let url = format!("http://{addr}/events");
            for _ in 0..SSE_CLIENTS {
                let (client, url, read, stop) =
                    (client.clone(), url.clone(), read.clone(), stop.clone());
                clients.push(tokio::spawn(async move {
                    let mut response = client.get(&url).send().await?.error_for_status()?;
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return anyhow::Ok(()),
                            chunk = response.chunk() => match chunk? {
                                Some(bytes) => {
                                    read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                                }
                                None => return Ok(()),
                            },
                        }
                    }
                }));
            }
            // Every client is attached before the pipeline starts: it has read the stream's
            // first bytes (bounded wait).
            let deadline = Instant::now() + Duration::from_secs(5);
            while read.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let result = common::run_built(&parts, built, policy, None, started).await?;
        sse_bytes = read.load(Ordering::Relaxed);
        stop.cancel();
        for c in clients {
            c.await??;
        }
        server.await??;
        anyhow::ensure!(
            variant != Variant::Sse || sse_bytes > 0,
            "the SSE clients read nothing"
        );
        result
    };
    let latencies = Latencies::read(&dir)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(Run {
        records: latencies.ms.len(),
        per_s: latencies.per_s(),
        cpu_us: result.cpu_s * 1e6 / latencies.ms.len().max(1) as f64,
        lossless: result.lossless(),
        sse_bytes,
    })
}
