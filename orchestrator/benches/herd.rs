//! Thundering herd, in virtual time: how hard do 1000 clients hit a server that comes back?
//!
//! 1000 clients fail together against one server that is down for the first 30 s, and retry
//! until they succeed. Every client is a real `with_retry` loop (the unclamped row reuses the
//! real `decorrelated_unclamped` step in an equivalent loop), run on a paused current-thread
//! tokio runtime, so 30+ s of outage take milliseconds and the figures are exact and
//! reproducible (seeded RNG).
//!
//! Reported per strategy: the peak number of attempts in any 100 ms window after recovery (the
//! herd that hits the recovering server), as a count and as a share of the clients; the total
//! number of attempts; and how long after recovery the last client got through.
//!
//! Run with `cargo bench -p sda-orchestrator --bench herd`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use sda_orchestrator::resilience::{
    Jitter, OpFailure, RetryPolicy, decorrelated_unclamped, with_retry,
};
use tokio::time::Instant;

const CLIENTS: usize = 1000;
const OUTAGE: Duration = Duration::from_secs(30);
const WINDOW: Duration = Duration::from_millis(100);
const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(10);
const FIXED: Duration = Duration::from_secs(1);
const SEED: u64 = 0x5DA;

/// The server: records every attempt in its 100 ms window and fails until the outage ends.
struct Server {
    start: Instant,
    windows: RefCell<Vec<u32>>,
    last_success: RefCell<Duration>,
}

impl Server {
    fn new() -> Rc<Self> {
        Rc::new(Self {
            start: Instant::now(),
            windows: RefCell::new(Vec::new()),
            last_success: RefCell::new(Duration::ZERO),
        })
    }

    fn attempt(&self) -> Result<(), OpFailure<&'static str>> {
        let at = self.start.elapsed();
        let window = usize::try_from(at.as_nanos() / WINDOW.as_nanos()).unwrap_or(usize::MAX);
        let mut windows = self.windows.borrow_mut();
        if windows.len() <= window {
            windows.resize(window + 1, 0);
        }
        windows[window] += 1;
        if at < OUTAGE {
            Err(OpFailure::retry("503 service unavailable"))
        } else {
            let mut last = self.last_success.borrow_mut();
            *last = (*last).max(at);
            Ok(())
        }
    }
}

enum Strategy {
    /// A real `RetryPolicy`, driven by `with_retry`.
    Policy(RetryPolicy),
    /// AWS's formula as published, with the cap applied after drawing.
    Unclamped,
}

struct Row {
    name: String,
    peak_after_recovery: u32,
    peak_window_start: Duration,
    total: u64,
    served_after: Duration,
}

fn simulate(name: &str, strategy: &Strategy) -> Row {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    let server = runtime.block_on(async {
        let server = Server::new();
        let local = tokio::task::LocalSet::new();
        let mut rng = fastrand::Rng::with_seed(SEED);
        for _ in 0..CLIENTS {
            let server = Rc::clone(&server);
            match strategy {
                Strategy::Policy(policy) => {
                    let policy = policy.clone();
                    local.spawn_local(async move {
                        let served = with_retry(&policy, |_| {
                            let result = server.attempt();
                            async move { result }
                        })
                        .await;
                        assert!(served.is_ok(), "unbounded retries end in success");
                    });
                }
                Strategy::Unclamped => {
                    let mut rng = rng.fork();
                    local.spawn_local(async move {
                        let mut previous = BASE;
                        while server.attempt().is_err() {
                            previous = decorrelated_unclamped(BASE, CAP, previous, rng.f64());
                            tokio::time::sleep(previous).await;
                        }
                    });
                }
            }
        }
        local.await;
        server
    });

    let windows = server.windows.borrow();
    let first_after = usize::try_from(OUTAGE.as_nanos() / WINDOW.as_nanos()).unwrap_or(0);
    let (peak_index, peak) = windows
        .iter()
        .enumerate()
        .skip(first_after)
        .max_by_key(|&(index, &count)| (count, std::cmp::Reverse(index)))
        .map_or((first_after, 0), |(index, &count)| (index, count));
    Row {
        name: name.to_owned(),
        peak_after_recovery: peak,
        peak_window_start: WINDOW * u32::try_from(peak_index).unwrap_or(u32::MAX),
        total: windows.iter().map(|&c| u64::from(c)).sum(),
        served_after: server.last_success.borrow().saturating_sub(OUTAGE),
    }
}

fn main() {
    let unbounded = |jitter, base, cap| {
        RetryPolicy::new("herd")
            .base(base)
            .cap(cap)
            .jitter(jitter)
            .max_attempts(u32::MAX)
            .with_seed(SEED)
    };
    let strategies = [
        (
            "fixed delay 1 s",
            Strategy::Policy(unbounded(Jitter::None, FIXED, FIXED)),
        ),
        (
            "exponential, no jitter",
            Strategy::Policy(unbounded(Jitter::None, BASE, CAP)),
        ),
        (
            "full jitter",
            Strategy::Policy(unbounded(Jitter::Full, BASE, CAP)),
        ),
        ("decorrelated, cap after draw (AWS)", Strategy::Unclamped),
        (
            "decorrelated, clamped (ours)",
            Strategy::Policy(unbounded(Jitter::Decorrelated, BASE, CAP)),
        ),
    ];

    println!(
        "Thundering herd (virtual time): {CLIENTS} clients fail together; server down for {}s.",
        OUTAGE.as_secs()
    );
    println!(
        "base {} ms, cap {} s for every strategy (fixed delay: {} s); seed {SEED:#x}; unbounded attempts.",
        BASE.as_millis(),
        CAP.as_secs(),
        FIXED.as_secs()
    );
    println!();
    println!(
        "| {:<36} | {:>28} | {:>7} | {:>14} | {:>16} |",
        "strategy", "peak / 100 ms after recovery", "% of N", "total attempts", "all served after"
    );
    println!(
        "|{:-<38}|{:->30}|{:->9}|{:->16}|{:->18}|",
        "", "", "", "", ""
    );
    for (name, strategy) in &strategies {
        let row = simulate(name, strategy);
        #[allow(clippy::cast_precision_loss)]
        let share = 100.0 * f64::from(row.peak_after_recovery) / CLIENTS as f64;
        println!(
            "| {:<36} | {:>17} (at {:>4.1}s) | {:>6.1}% | {:>14} | {:>14.1} s |",
            row.name,
            row.peak_after_recovery,
            row.peak_window_start.as_secs_f64(),
            share,
            row.total,
            row.served_after.as_secs_f64()
        );
    }
}
