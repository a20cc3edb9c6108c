//! What the telemetry aggregator promises, one test each, on the example's own pipeline
//! (`examples/telemetry_aggregator/`), under paused time.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/telemetry_aggregator/main.rs"]
mod aggregator;

use std::collections::HashSet;
use std::time::Duration;

use aggregator::stats::StatsPublisher;
use aggregator::{Config, FeedPlan, FrameId, FramePriority, Report, ShutdownWhen, Work, stat};
use sda_orchestrator::SupervisorEvent;

fn quiet(mut config: Config) -> Config {
    config.verbose = false;
    config
}

fn ids(report: &Report) -> Vec<FrameId> {
    report.processed.iter().map(|(id, _)| id.clone()).collect()
}

fn accepted_ids(report: &Report) -> HashSet<FrameId> {
    report
        .accepted
        .iter()
        .flat_map(|(name, seqs)| {
            let name: std::sync::Arc<str> = std::sync::Arc::from(name.as_str());
            seqs.iter().map(move |&seq| (name.clone(), seq))
        })
        .collect()
}

/// 1. Emergency frames are processed before queued routine frames from the same source.
#[tokio::test(start_paused = true)]
async fn emergency_frames_overtake_queued_routine_frames() -> anyhow::Result<()> {
    let mut config = quiet(Config::demo());
    config.feeds = vec![FeedPlan::uplink(1, 20, &[10, 19])];
    config.late.clear();
    config.work = Work::Sleep(Duration::from_millis(1));
    let report = aggregator::run(config).await?;

    // The uplink sent its 20 frames in one burst, so all were queued when the processor
    // looked: both emergencies come first, then the routine frames in the order sent.
    let order: Vec<(u32, FramePriority)> = report
        .processed
        .iter()
        .map(|((_, seq), priority)| (*seq, *priority))
        .collect();
    let mut expected = vec![
        (10, FramePriority::Emergency),
        (19, FramePriority::Emergency),
    ];
    expected.extend(
        (0..19)
            .filter(|s| *s != 10)
            .map(|s| (s, FramePriority::Routine)),
    );
    assert_eq!(order, expected);
    assert_eq!(report.outcome, SupervisorEvent::CleanShutdown);
    Ok(())
}

/// 2. A source registered mid-run delivers all its frames.
#[tokio::test(start_paused = true)]
async fn a_source_registered_mid_run_delivers_every_frame() -> anyhow::Result<()> {
    let report = aggregator::run(quiet(Config::demo())).await?;

    assert!(
        report.late_registered,
        "uplink-4 was registered while the graph ran"
    );
    let late: Vec<u32> = report
        .processed
        .iter()
        .filter(|((source, _), _)| &**source == "uplink-4")
        .map(|((_, seq), _)| *seq)
        .collect();
    let mut sorted = late.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    assert_eq!(report.accepted["uplink-4"], (0..10).collect::<Vec<_>>());
    // 3 uplinks + the late one, 10 frames each, and a replay of 5.
    assert_eq!(report.processed.len(), 45);
    assert_eq!(report.outcome, SupervisorEvent::CleanShutdown);
    Ok(())
}

/// 3. With a slow processor, producers wait (the capacity-64 bound holds) and no frame is
///    dropped.
#[tokio::test(start_paused = true)]
async fn a_slow_processor_makes_producers_wait_and_loses_nothing() -> anyhow::Result<()> {
    let mut config = quiet(Config::demo());
    config.feeds = (1..=8)
        .map(|i| FeedPlan::uplink(i, 50, &[25, 49]))
        .collect();
    config.late.clear();
    config.work = Work::Sleep(Duration::from_millis(1));
    let report = aggregator::run(config).await?;

    // 400 frames offered at once into lanes of 64: the routine lane filled up and stayed
    // bounded, and the feeds spent time waiting for room.
    assert!(
        report.max_routine_queued <= 64,
        "{}",
        report.max_routine_queued
    );
    assert!(
        report.max_routine_queued >= 60,
        "{}",
        report.max_routine_queued
    );
    assert!(report.max_queued <= 64 + 16, "{}", report.max_queued);
    assert!(report.blocked_seconds > 0.0);
    // Nothing dropped: every frame offered was accepted, processed and archived.
    assert_eq!(report.processed.len(), 400);
    assert_eq!(accepted_ids(&report).len(), 400);
    assert_eq!(report.archived.len(), 400);
    assert_eq!(report.dropped, 0);
    assert_eq!(report.outcome, SupervisorEvent::CleanShutdown);
    Ok(())
}

/// 4. The archive consumer receives exactly the frames the processor processed.
#[tokio::test(start_paused = true)]
async fn the_archive_receives_exactly_the_processed_frames() -> anyhow::Result<()> {
    let mut config = quiet(Config::full());
    // A live view that lags badly must not cost the archive a single frame.
    config.live_view_delay = Duration::from_millis(50);
    config.broadcast_capacity = 4;
    let report = aggregator::run(config).await?;

    assert_eq!(report.archived, ids(&report), "same frames, same order");
    assert_eq!(report.archived.len(), 47 * 10 + 10 + 2 * 5);
    assert!(report.live_view_lagged > 0);
    assert_eq!(report.outcome, SupervisorEvent::CleanShutdown);
    Ok(())
}

/// The statistics publish what the hot path counted as one snapshot: nothing is visible before
/// a publish, and a published snapshot carries its generation and every value by name.
#[test]
fn stats_are_published_as_whole_snapshots() {
    const PROCESSED: usize = 0;
    const EMERGENCY: usize = 1;
    let mut publisher = StatsPublisher::new(["processed", "emergency"]);
    let counters = publisher.counters();
    let reader = publisher.reader();

    counters.add(PROCESSED, 3);
    counters.add(EMERGENCY, 1);
    assert_eq!(
        reader.latest().get("processed"),
        Some(0),
        "not published yet"
    );
    assert_eq!(
        counters.get(PROCESSED),
        3,
        "the live value is there at once"
    );
    assert_eq!(publisher.publish(), 1);
    let snapshot = reader.latest();
    assert_eq!(snapshot.generation(), 1);
    assert_eq!(snapshot.values(), [3, 1]);
    assert_eq!(snapshot.get("emergency"), Some(1));
    assert_eq!(snapshot.get("unknown"), None);
    assert_eq!(snapshot.names(), ["processed", "emergency"]);
}

/// 5. The stats read path is lock-free: atomics only, with the `watch` channel carrying just
///    the generation for `changed()`.
///
/// What backs the claim is in `StatsReader::latest` (`examples/telemetry_aggregator/stats.rs`): a
/// sequence lock made of atomics only, with a single publisher guaranteed by `publish(&mut self)`;
/// tokio's `watch::Receiver::borrow` takes an `RwLock` read lock, so the values are not read
/// through it. Here: plain threads with no runtime read while another publishes, and every snapshot
/// is whole (never torn), and the pipeline's dashboard saw consistent, monotonic statistics.
#[tokio::test(start_paused = true)]
async fn stats_are_read_without_locks_and_never_torn() -> anyhow::Result<()> {
    let mut publisher = StatsPublisher::new(["a", "b", "c"]);
    let counters = publisher.counters();
    let reader = publisher.reader();
    const ROUNDS: u64 = 20_000;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let reader = reader.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                loop {
                    let snapshot = reader.latest();
                    let [a, b, c] = snapshot.values();
                    // Each publish follows one bump of every counter: a torn read would mix
                    // two generations.
                    assert_eq!((a, b, c), (snapshot.generation(), a, a));
                    assert!(snapshot.generation() >= last);
                    last = snapshot.generation();
                    if last == ROUNDS {
                        return;
                    }
                }
            })
        })
        .collect();
    for _ in 0..ROUNDS {
        for index in 0..3 {
            counters.add(index, 1);
        }
        publisher.publish();
    }
    for reader in readers {
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("a reader saw a torn snapshot"))?;
    }

    let report = aggregator::run(quiet(Config::demo())).await?;
    let generations: Vec<u64> = report.dashboard.iter().map(|s| s.generation()).collect();
    assert!(
        generations.windows(2).all(|w| w[0] <= w[1]),
        "{generations:?}"
    );
    for snapshot in &report.dashboard {
        let v = snapshot.values();
        assert!(v[stat::PROCESSED] <= v[stat::ACCEPTED]);
        assert_eq!(v[stat::PROCESSED], v[stat::EMERGENCY] + v[stat::ROUTINE]);
    }
    let last = report.final_stats;
    assert_eq!(last.get("processed"), Some(45));
    assert_eq!(last.get("accepted"), Some(45));
    assert_eq!(last.get("emergency"), Some(8));
    Ok(())
}

/// 6. Frames accepted before shutdown are all processed: the priority fan-in is drained, the
///    broadcast closes, and every task exits within 5 s.
#[tokio::test(start_paused = true)]
async fn shutdown_drains_every_accepted_frame() -> anyhow::Result<()> {
    let mut config = quiet(Config::demo());
    // Endless-looking feeds, stopped by the shutdown while the processor is far behind.
    config.feeds = (1..=8)
        .map(|i| FeedPlan::uplink(i, 100_000, &[100, 150, 170]))
        .collect();
    config.late.clear();
    config.work = Work::Sleep(Duration::from_millis(1));
    config.shutdown = ShutdownWhen::Accepted(300);
    let report = aggregator::run(config).await?;

    let accepted = accepted_ids(&report);
    assert!(accepted.len() >= 300);
    let processed: HashSet<FrameId> = ids(&report).into_iter().collect();
    assert_eq!(
        processed, accepted,
        "every accepted frame, and only those, was processed"
    );
    assert_eq!(report.processed.len(), accepted.len(), "each exactly once");
    assert_eq!(report.archived.len(), accepted.len());
    assert_eq!(report.dropped, 0);
    assert_eq!(report.outcome, SupervisorEvent::CleanShutdown);
    assert!(
        report.shutdown_took < Duration::from_secs(5),
        "{:?}",
        report.shutdown_took
    );
    assert!(
        report.refused_after_shutdown,
        "no feed is accepted after shutdown"
    );
    assert!(
        report.live_view_saw_last,
        "the broadcast closed after the last frame"
    );
    Ok(())
}

/// 7. A deliberately slow broadcast receiver gets `Lagged`, warns and continues to the end.
#[tokio::test(start_paused = true)]
async fn a_slow_broadcast_receiver_lags_and_continues() -> anyhow::Result<()> {
    let mut config = quiet(Config::demo());
    config.live_view_delay = Duration::from_millis(20);
    config.broadcast_capacity = 4;
    let report = aggregator::run(config).await?;

    let processed = report.processed.len() as u64;
    assert!(report.live_view_lagged > 0, "the live view lagged");
    assert_eq!(
        report.live_view_received + report.live_view_lagged,
        processed,
        "each frame was either received or counted as missed"
    );
    assert!(report.live_view_saw_last, "it continued to the end");
    // Had the processor waited for the live view, shutdown would take about 45 x 20 ms.
    assert!(
        report.shutdown_took < Duration::from_millis(400),
        "{:?}",
        report.shutdown_took
    );
    assert_eq!(report.outcome, SupervisorEvent::CleanShutdown);
    Ok(())
}
