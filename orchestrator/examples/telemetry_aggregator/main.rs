//! Priority telemetry aggregator, built on the orchestrator's general features.
//!
//! Mission control receives telemetry from live LEO uplinks and archived replay feeds at once.
//! Emergency command frames (`SAFE_MODE`, `ABORT`) must be processed before routine telemetry,
//! the archive needs every processed frame, a live view may lag, and a dashboard needs only the
//! latest statistics.
//!
//! ```text
//! uplinks (router: feeds added at run time) ─[capacity 64, priority lanes]→ processor ─┬→ archive    (every frame, backpressure)
//!                                                                                       └→ live_view  (lossy broadcast ring of 16)
//! processor counters ──(relaxed atomics)──→ StatsPublisher ──(seqlock + watch)──→ dashboard (every 50 ms)
//! ```
//!
//! Run: `cargo run -p sda-orchestrator --example telemetry_aggregator` (4 uplinks of 10 frames,
//! 2 of them emergencies, one registered mid-run, and 1 replay of 5), or add `-- --full` for the
//! full-size profile (48 uplinks and 2 replays).
//!
//! The dashboard's statistics are the example's own (`stats.rs`): a fixed set of counters
//! published as snapshots that readers take without a lock.
//!
//! The integration tests (`tests/telemetry_aggregator.rs`) and the benchmark
//! (`benches/priority.rs`) include this file and drive [`run`] with their own [`Config`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod stats;

use sda_orchestrator::{
    Lane, OperatorContext, RestartPolicy, RouterHandle, SinkContext, SourceContext, SourceFactory,
    SupervisorEvent, SupervisorPolicy, pipeline,
};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep};
use tokio_util::sync::CancellationToken;

use self::stats::{StatsCounters, StatsPublisher, StatsSnapshot};

/// How urgent a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FramePriority {
    /// A command frame that must be handled before any routine telemetry.
    Emergency,
    /// Housekeeping telemetry.
    Routine,
}

/// Where a frame comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A live uplink from a LEO satellite.
    LiveUplink,
    /// An archived feed played back.
    ArchivedReplay,
}

/// One telemetry frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The feed it came from.
    pub source: Arc<str>,
    /// The kind of that feed.
    pub kind: SourceKind,
    /// Its position in the feed, from 0.
    pub seq: u32,
    /// Emergency or routine.
    pub priority: FramePriority,
    /// `SAFE_MODE` or `ABORT` for an emergency frame, `TLM` otherwise.
    pub command: &'static str,
    /// When the feed handed it to the graph (just before `send`).
    pub sent_at: Instant,
}

/// Which lane a frame takes: the edge's classifier.
pub fn classify(frame: &Frame) -> Lane {
    match frame.priority {
        FramePriority::Emergency => Lane::Emergency,
        FramePriority::Routine => Lane::Routine,
    }
}

/// The classifier of the baseline without lanes: every frame is routine.
pub fn no_lanes(_frame: &Frame) -> Lane {
    Lane::Routine
}

/// A frame's identity: its feed and its position there.
pub type FrameId = (Arc<str>, u32);

/// A processed frame, as the processor hands it to the archive and the live view.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The frame.
    pub frame: Frame,
    /// Its position in the processing order, from 0.
    pub order: u64,
    /// Routine frames still queued on the processor's input when it was taken.
    pub routine_waiting: usize,
}

/// Indices of the statistics counters.
pub mod stat {
    /// Frames accepted by the graph (a feed's `send` completed).
    pub const ACCEPTED: usize = 0;
    /// Frames processed.
    pub const PROCESSED: usize = 1;
    /// Emergency frames processed.
    pub const EMERGENCY: usize = 2;
    /// Routine frames processed.
    pub const ROUTINE: usize = 3;
    /// The counter names, in index order.
    pub const NAMES: [&str; 4] = ["accepted", "processed", "emergency", "routine"];
}

/// The statistics published to the dashboard.
pub type Stats = StatsSnapshot<4>;

/// One feed to run.
#[derive(Debug, Clone)]
pub struct FeedPlan {
    /// Its name, unique among feeds.
    pub name: String,
    /// Uplink or replay.
    pub kind: SourceKind,
    /// How many frames it sends; then it finishes.
    pub frames: u32,
    /// Which of its frames (by `seq`) are emergencies.
    pub emergencies: Vec<u32>,
    /// The pause between two frames (zero: a burst).
    pub pace: Duration,
}

impl FeedPlan {
    /// An uplink of `frames` frames, with emergencies at the given positions.
    pub fn uplink(index: usize, frames: u32, emergencies: &[u32]) -> Self {
        FeedPlan {
            name: format!("uplink-{index}"),
            kind: SourceKind::LiveUplink,
            frames,
            emergencies: emergencies.to_vec(),
            pace: Duration::ZERO,
        }
    }

    /// A replay of `frames` routine frames.
    pub fn replay(index: usize, frames: u32) -> Self {
        FeedPlan {
            name: format!("replay-{index}"),
            kind: SourceKind::ArchivedReplay,
            frames,
            emergencies: Vec::new(),
            pace: Duration::ZERO,
        }
    }

    /// The same feed with a pause between frames.
    pub fn paced(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }
}

/// How the processor spends time on a frame.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    /// Awaits a timer (cheap; deterministic under paused time).
    Sleep(Duration),
    /// Busy-waits (a CPU-bound step, for the benchmark).
    Spin(Duration),
}

/// When the driver starts the shutdown.
#[derive(Debug, Clone, Copy)]
pub enum ShutdownWhen {
    /// Once every feed, the late ones included, has sent all its frames.
    SourcesFinished,
    /// Once this many frames have been accepted (feeds may still be sending).
    Accepted(u64),
}

/// Everything a run is made of.
#[derive(Debug, Clone)]
pub struct Config {
    /// Feeds registered when the graph starts.
    pub feeds: Vec<FeedPlan>,
    /// Feeds registered while the graph runs, after `late_after`.
    pub late: Vec<FeedPlan>,
    /// When the late feeds are registered.
    pub late_after: Duration,
    /// The capacity of each lane of the processor's input.
    pub capacity: usize,
    /// The processor's work per frame.
    pub work: Work,
    /// The live view's work per frame (it may lag).
    pub live_view_delay: Duration,
    /// The size of the live view's broadcast ring.
    pub broadcast_capacity: usize,
    /// How often statistics are published and the dashboard reads them.
    pub dashboard_period: Duration,
    /// When to shut down.
    pub shutdown: ShutdownWhen,
    /// Whether the processor's input has priority lanes (the benchmark's baseline turns them
    /// off: every frame then takes the routine lane).
    pub lanes: bool,
    /// Print every processed frame and dashboard reading.
    pub verbose: bool,
}

impl Config {
    /// The small demo (the default run): 4 uplinks of 10 frames (2 emergencies each, one uplink
    /// registered mid-run) and 1 replay of 5, a processor input of capacity 64.
    pub fn demo() -> Self {
        Config::profile(4, 1, true)
    }

    /// The full-size profile: 48 uplinks (the last registered mid-run) and 2 replays.
    pub fn full() -> Self {
        Config::profile(48, 2, false)
    }

    fn profile(uplinks: usize, replays: usize, verbose: bool) -> Self {
        let mut feeds: Vec<FeedPlan> = (1..uplinks)
            .map(|i| FeedPlan::uplink(i, 10, &[5, 9]).paced(Duration::from_millis(1)))
            .collect();
        feeds.extend((1..=replays).map(|i| FeedPlan::replay(i, 5)));
        Config {
            feeds,
            late: vec![FeedPlan::uplink(uplinks, 10, &[5, 9]).paced(Duration::from_millis(1))],
            late_after: Duration::from_millis(5),
            capacity: 64,
            work: Work::Sleep(Duration::from_millis(2)),
            live_view_delay: Duration::from_millis(5),
            broadcast_capacity: 16,
            dashboard_period: Duration::from_millis(50),
            shutdown: ShutdownWhen::SourcesFinished,
            lanes: true,
            verbose,
        }
    }
}

/// What a run did, for the tests, the benchmark and the summary.
#[derive(Debug)]
pub struct Report {
    /// How the graph ended.
    pub outcome: SupervisorEvent,
    /// Frames in the order the processor took them.
    pub processed: Vec<(FrameId, FramePriority)>,
    /// Frames in the order the archive stored them.
    pub archived: Vec<FrameId>,
    /// Frames the live view received.
    pub live_view_received: u64,
    /// Whether the live view saw the processor's last frame.
    pub live_view_saw_last: bool,
    /// Frames the live view missed by lagging (the broadcast edge's `lagged` count).
    pub live_view_lagged: u64,
    /// Per feed: the frames whose `send` completed.
    pub accepted: HashMap<String, Vec<u32>>,
    /// The most frames ever queued on the processor's input (both lanes).
    pub max_queued: usize,
    /// The most routine frames ever queued on the processor's input.
    pub max_routine_queued: usize,
    /// Seconds the feeds spent waiting for room on the processor's input.
    pub blocked_seconds: f64,
    /// Frames dropped anywhere in the graph.
    pub dropped: u64,
    /// Every snapshot the dashboard read, in order.
    pub dashboard: Vec<Stats>,
    /// The last published statistics.
    pub final_stats: Stats,
    /// From the shutdown request to the end of the graph.
    pub shutdown_took: Duration,
    /// Whether the late feeds were registered while the graph ran.
    pub late_registered: bool,
    /// Whether a registration after the shutdown was refused.
    pub refused_after_shutdown: bool,
    /// Per processed frame: its priority and its latency (sent to processed).
    pub latencies: Vec<(FramePriority, Duration)>,
}

#[derive(Default)]
struct Recorder {
    processed: Mutex<Vec<(FrameId, FramePriority)>>,
    latencies: Mutex<Vec<(FramePriority, Duration)>>,
    archived: Mutex<Vec<FrameId>>,
    accepted: Mutex<HashMap<String, Vec<u32>>>,
    max_queued: AtomicUsize,
    max_routine_queued: AtomicUsize,
    live_view: Mutex<(u64, Option<u64>)>,
    finished_feeds: AtomicUsize,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A feed: sends its frames, stops at shutdown or removal.
fn feed(
    plan: FeedPlan,
    counters: StatsCounters<4>,
    record: Arc<Recorder>,
) -> impl SourceFactory<Frame> {
    let source: Arc<str> = Arc::from(plan.name.as_str());
    move |mut ctx: SourceContext<Frame>| {
        let (plan, source, counters, record) = (
            plan.clone(),
            source.clone(),
            counters.clone(),
            record.clone(),
        );
        async move {
            for seq in 0..plan.frames {
                let emergency = plan.emergencies.contains(&seq);
                let frame = Frame {
                    source: source.clone(),
                    kind: plan.kind,
                    seq,
                    priority: if emergency {
                        FramePriority::Emergency
                    } else {
                        FramePriority::Routine
                    },
                    // The first emergency of a feed asks for safe mode; later ones abort.
                    command: match plan.emergencies.iter().position(|&e| e == seq) {
                        None => "TLM",
                        Some(0) => "SAFE_MODE",
                        Some(_) => "ABORT",
                    },
                    sent_at: Instant::now(),
                };
                tokio::select! {
                    biased;
                    // A frame not yet accepted when shutdown begins is not sent: the graph
                    // stops accepting, and everything accepted drains.
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    sent = ctx.output.send(frame) => sent?,
                }
                counters.add(stat::ACCEPTED, 1);
                locked(&record.accepted)
                    .entry(plan.name.clone())
                    .or_default()
                    .push(seq);
                if !plan.pace.is_zero() {
                    tokio::select! {
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        () = sleep(plan.pace) => {}
                    }
                }
            }
            record.finished_feeds.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
}

/// The processor: takes emergency frames first (the edge's lanes do that), does its work,
/// counts, and hands each frame on.
fn processor(
    work: Work,
    counters: StatsCounters<4>,
    record: Arc<Recorder>,
    verbose: bool,
) -> impl sda_orchestrator::OperatorFactory<Frame, Processed> {
    move |mut ctx: OperatorContext<Frame, Processed>| {
        let (counters, record) = (counters.clone(), record.clone());
        async move {
            while let Some(frame) = ctx.input.recv().await {
                let waiting = ctx.input.len();
                record.max_queued.fetch_max(waiting + 1, Ordering::Relaxed);
                let emergency = frame.priority == FramePriority::Emergency;
                let routine_waiting = waiting.saturating_sub(ctx.input.emergency_len());
                record
                    .max_routine_queued
                    .fetch_max(routine_waiting, Ordering::Relaxed);
                match work {
                    Work::Sleep(d) => sleep(d).await,
                    Work::Spin(d) => {
                        let until = std::time::Instant::now() + d;
                        while std::time::Instant::now() < until {
                            std::hint::spin_loop();
                        }
                    }
                }
                let order = {
                    let mut processed = locked(&record.processed);
                    processed.push(((frame.source.clone(), frame.seq), frame.priority));
                    processed.len() as u64 - 1
                };
                locked(&record.latencies).push((frame.priority, frame.sent_at.elapsed()));
                counters.add(stat::PROCESSED, 1);
                counters.add(
                    if emergency {
                        stat::EMERGENCY
                    } else {
                        stat::ROUTINE
                    },
                    1,
                );
                if verbose {
                    if emergency {
                        println!(
                            "processor: #{order:<3} {:<9} seq {:>2} EMERGENCY {:<9} (ahead of {routine_waiting} queued routine frame(s))",
                            frame.source, frame.seq, frame.command
                        );
                    } else {
                        println!(
                            "processor: #{order:<3} {:<9} seq {:>2} routine",
                            frame.source, frame.seq
                        );
                    }
                }
                ctx.output
                    .send(Processed {
                        frame,
                        order,
                        routine_waiting,
                    })
                    .await?;
            }
            Ok(())
        }
    }
}

/// The archive: stores every processed frame (a plain edge: backpressure, nothing lost).
fn archive(record: Arc<Recorder>) -> impl sda_orchestrator::SinkFactory<Processed> {
    move |mut ctx: SinkContext<Processed>| {
        let record = record.clone();
        async move {
            while let Some(processed) = ctx.input.recv().await {
                let frame = processed.frame;
                locked(&record.archived).push((frame.source, frame.seq));
            }
            Ok(())
        }
    }
}

/// The live view: slow on purpose, fed by a lossy broadcast ring. When it lags, its inbox logs
/// a warning with the count missed and goes on; the processor never waits for it.
fn live_view(
    delay: Duration,
    record: Arc<Recorder>,
) -> impl sda_orchestrator::SinkFactory<Processed> {
    move |mut ctx: SinkContext<Processed>| {
        let record = record.clone();
        async move {
            while let Some(processed) = ctx.input.recv().await {
                {
                    let mut seen = locked(&record.live_view);
                    seen.0 += 1;
                    seen.1 = Some(processed.order);
                }
                sleep(delay).await;
            }
            Ok(())
        }
    }
}

/// Builds the graph with `pipeline!`, runs it, registers the late feeds mid-run, and shuts down
/// as `config.shutdown` says.
///
/// # Errors
///
/// When the graph does not build or a feed cannot be registered.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    let record = Arc::new(Recorder::default());
    let publisher = StatsPublisher::new(stat::NAMES);
    let counters = publisher.counters();
    let mut reader = publisher.reader();
    let (router, uplinks) = RouterHandle::<Frame>::new();
    let capacity = config.capacity;
    let broadcast_capacity = config.broadcast_capacity;
    let lanes: fn(&Frame) -> Lane = if config.lanes { classify } else { no_lanes };

    let graph = pipeline! {
        // Feeds come and go at run time; the router restarts within a budget like any source.
        source   uplinks   = uplinks, restart = RestartPolicy::bounded(5, Duration::from_secs(60));
        // Stateless: a failed frame is retried on a fresh incarnation with the same queues.
        operator processor = processor(config.work, counters.clone(), record.clone(), config.verbose),
                             restart = RestartPolicy::bounded(5, Duration::from_secs(60));
        // Integrity-critical: never hidden behind a restart.
        sink     archive   = archive(record.clone()), restart = RestartPolicy::Never;
        // A display: allowed to lag, never restarted.
        sink     live_view = live_view(config.live_view_delay, record.clone()), restart = RestartPolicy::Never;

        uplinks -> [capacity = capacity, priority = lanes] processor;
        processor -> archive;
        processor -> [broadcast = broadcast_capacity] live_view;
    };
    let built = graph.build()?;
    let shutdown = built.shutdown_handle();
    let monitor = built.monitor();
    let running = tokio::spawn(
        built.run(SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(5))),
    );

    // Statistics: published every period until the graph has drained, then once more.
    let stats_done = CancellationToken::new();
    let stats = tokio::spawn(publisher.run(config.dashboard_period, stats_done.clone()));
    let verbose = config.verbose;
    let dashboard_period = config.dashboard_period;
    let dashboard = tokio::spawn(async move {
        let mut readings = Vec::new();
        let mut ticker = interval(dashboard_period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                // The publisher is gone after its final snapshot: read it and stop.
                changed = reader.changed() => if changed.is_err() { break } else { continue },
            }
            let latest = reader.latest();
            if verbose {
                println!(
                    "dashboard: generation {:>3}: accepted {:>3}, processed {:>3} ({} emergency, {} routine)",
                    latest.generation(),
                    latest.values()[stat::ACCEPTED],
                    latest.values()[stat::PROCESSED],
                    latest.values()[stat::EMERGENCY],
                    latest.values()[stat::ROUTINE],
                );
            }
            readings.push(latest);
        }
        let last = reader.latest();
        readings.push(last);
        readings
    });

    for plan in &config.feeds {
        router
            .register(
                plan.name.clone(),
                RestartPolicy::Never,
                feed(plan.clone(), counters.clone(), record.clone()),
            )
            .await?;
    }
    let started = Instant::now();
    let total_feeds = config.feeds.len() + config.late.len();
    let mut late_registered = config.late.is_empty();
    let mut tick = interval(Duration::from_millis(1));
    loop {
        tick.tick().await;
        if !late_registered && started.elapsed() >= config.late_after {
            let running_now = !running.is_finished() && !router.is_closed();
            for plan in &config.late {
                if verbose {
                    println!("driver: registering {} mid-run", plan.name);
                }
                router
                    .register(
                        plan.name.clone(),
                        RestartPolicy::Never,
                        feed(plan.clone(), counters.clone(), record.clone()),
                    )
                    .await?;
            }
            late_registered = running_now;
        }
        let done = match config.shutdown {
            ShutdownWhen::SourcesFinished => {
                record.finished_feeds.load(Ordering::SeqCst) == total_feeds
            }
            ShutdownWhen::Accepted(n) => counters.get(stat::ACCEPTED) >= n,
        };
        if done && (late_registered || config.late.is_empty()) {
            break;
        }
    }
    if verbose {
        println!("driver: sources finished; shutting down (drain deadline 5 s)");
    }
    let shutdown_started = Instant::now();
    shutdown.shutdown();
    let outcome = running.await?;
    let shutdown_took = shutdown_started.elapsed();
    let refused_after_shutdown = router
        .register(
            "too-late",
            RestartPolicy::Never,
            feed(FeedPlan::replay(99, 1), counters.clone(), record.clone()),
        )
        .await
        .is_err();
    stats_done.cancel();
    stats.await?;
    let readings = dashboard.await?;

    let snapshot = monitor.snapshot();
    let edge = |name: &str| snapshot.edges.iter().find(|e| e.name == name);
    let (live_view_received, last_seen) = *locked(&record.live_view);
    let processed = std::mem::take(&mut *locked(&record.processed));
    let last_order = (processed.len() as u64).checked_sub(1);
    Ok(Report {
        outcome,
        live_view_received,
        live_view_saw_last: last_seen == last_order,
        live_view_lagged: edge("processor->live_view").map_or(0, |e| e.lagged),
        processed,
        archived: std::mem::take(&mut *locked(&record.archived)),
        accepted: std::mem::take(&mut *locked(&record.accepted)),
        max_queued: record.max_queued.load(Ordering::Relaxed),
        max_routine_queued: record.max_routine_queued.load(Ordering::Relaxed),
        blocked_seconds: edge("uplinks->processor").map_or(0.0, |e| e.blocked_seconds),
        dropped: monitor.dropped_items(),
        final_stats: readings
            .last()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("the dashboard read nothing"))?,
        dashboard: readings,
        shutdown_took,
        late_registered,
        refused_after_shutdown,
        latencies: std::mem::take(&mut *locked(&record.latencies)),
    })
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    // Logs go to stderr so that stdout carries only the processing trace and the summary.
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let full = std::env::args().any(|a| a == "--full");
    let config = if full { Config::full() } else { Config::demo() };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(config))?;
    let emergencies = report
        .processed
        .iter()
        .filter(|(_, p)| *p == FramePriority::Emergency)
        .count();
    println!(
        "summary: {:?}; {} frames processed ({} emergency), {} archived, live view received {} and missed {} (lagged), {} dropped, shutdown took {:?}",
        report.outcome,
        report.processed.len(),
        emergencies,
        report.archived.len(),
        report.live_view_received,
        report.live_view_lagged,
        report.dropped,
        report.shutdown_took,
    );
    Ok(())
}
