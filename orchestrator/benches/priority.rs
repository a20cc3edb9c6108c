//! Emergency against routine latency in the telemetry aggregator under saturation: 48 uplinks
//! and 2 replays flood the processor (input capacity 64 per lane) with routine frames and a
//! trickle of emergencies; the processor spends a fixed CPU time per frame, so it is the
//! bottleneck and the routine lane stays full. Latency is from a feed's `send` to the
//! processor taking the frame, p50/p99 per priority, in the same run. A second run with the
//! lanes turned off (every frame routine) is the baseline.
//!
//! Run: `cargo bench -p sda-orchestrator --bench priority`

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/telemetry_aggregator/main.rs"]
mod aggregator;

use std::time::Duration;

use aggregator::{Config, FeedPlan, FramePriority, Work};

const UPLINKS: usize = 48;
const REPLAYS: usize = 2;
const FRAMES: u32 = 2_000;
/// One emergency every this many frames of an uplink.
const EMERGENCY_EVERY: u32 = 200;
const WORK: Duration = Duration::from_micros(5);

fn config(lanes: bool) -> Config {
    let mut config = Config::full();
    let emergencies: Vec<u32> = (EMERGENCY_EVERY / 2..FRAMES)
        .step_by(EMERGENCY_EVERY as usize)
        .collect();
    config.feeds = (1..=UPLINKS)
        .map(|i| FeedPlan::uplink(i, FRAMES, &emergencies))
        .chain((1..=REPLAYS).map(|i| FeedPlan::replay(i, FRAMES)))
        .collect();
    config.late.clear();
    config.work = Work::Spin(WORK);
    config.live_view_delay = Duration::ZERO;
    config.broadcast_capacity = 1024;
    config.lanes = lanes;
    config.verbose = false;
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Figures {
    count: usize,
    p50: Duration,
    p99: Duration,
}

fn figures(latencies: &[(FramePriority, Duration)], priority: FramePriority) -> Figures {
    let mut sorted: Vec<Duration> = latencies
        .iter()
        .filter(|(p, _)| *p == priority)
        .map(|(_, d)| *d)
        .collect();
    sorted.sort_unstable();
    Figures {
        count: sorted.len(),
        p50: percentile(&sorted, 0.50),
        p99: percentile(&sorted, 0.99),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "priority: {UPLINKS} uplinks + {REPLAYS} replays x {FRAMES} frames, 1 emergency per {EMERGENCY_EVERY} uplink frames, processor {WORK:?}/frame, capacity 64 per lane"
    );
    for round in 1..=3 {
        for lanes in [true, false] {
            let report = runtime.block_on(aggregator::run(config(lanes))).unwrap();
            assert_eq!(report.dropped, 0);
            let emergency = figures(&report.latencies, FramePriority::Emergency);
            let routine = figures(&report.latencies, FramePriority::Routine);
            println!(
                "round {round} lanes {:<3}: emergency n={:<5} p50 {:>10.3?} p99 {:>10.3?} | routine n={:<6} p50 {:>10.3?} p99 {:>10.3?} | routine p99 / emergency p99 = {:.1}x",
                if lanes { "on" } else { "off" },
                emergency.count,
                emergency.p50,
                emergency.p99,
                routine.count,
                routine.p50,
                routine.p99,
                routine.p99.as_secs_f64() / emergency.p99.as_secs_f64().max(1e-9),
            );
        }
    }
}
