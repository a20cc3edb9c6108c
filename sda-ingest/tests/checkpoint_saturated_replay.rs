//! Checkpoints go on while the simulator's replay is saturated: offered far more than its
//! consumer takes, the replay falls behind its schedule and sends its backlog in bounded
//! batches, so that each checkpoint's barrier leaves it within one batch, not after the whole
//! backlog. On paused time, through the library's public API: the replay source (`simulated`)
//! into a sink that takes 1 ms a frame and counts them in its checkpointed state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sda_ingest::pipeline::{Counters, EventTimeSettings, RawFrame};
use sda_ingest::simulator::replay::MAX_BATCH;
use sda_ingest::simulator::{Pacing, SimStream, simulated};
use sda_ingest_core::SensorKind;
use sda_orchestrator::checkpoint::{CheckpointConfig, CheckpointStore};
use sda_orchestrator::events::{EventKind, Received};
use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext, SupervisorPolicy};

/// Frames in the stream: twenty seconds of the sink's time.
const FRAMES: u64 = 20_000;
/// The sink's time per frame (tokio's timer counts whole milliseconds).
const PER_FRAME: Duration = Duration::from_millis(1);
/// How often a checkpoint starts.
const INTERVAL: Duration = Duration::from_millis(500);

/// The seconds of a "checkpoint {id} completed in {s} s, {n} bytes" event.
fn seconds(reason: &str) -> f64 {
    reason
        .split(" completed in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {reason:?}"))
}

#[tokio::test(start_paused = true)]
async fn checkpoints_complete_every_interval_while_the_replay_is_saturated() {
    let dir = tempfile::tempdir().unwrap();
    let stream = SimStream {
        name: Arc::from("radar"),
        kind: SensorKind::Radar,
        messages: (0..FRAMES).map(|_| Bytes::from_static(b"frame")).collect(),
        epochs: (0..FRAMES).map(|_| None).collect(),
    };
    // A million frames a second offered, a thousand taken: the replay is behind at once.
    let pacing = Pacing {
        records_per_s: 1_000_000.0,
        passes: None,
    };
    let mut graph = OperatorGraph::new().with_checkpoints(
        CheckpointConfig::new(dir.path())
            .with_interval(INTERVAL)
            .with_keep(1_000),
    );
    let source = graph.add_source(
        "radar",
        RestartPolicy::Never,
        simulated(
            stream,
            pacing,
            EventTimeSettings::default().clock(SensorKind::Radar),
            Arc::new(Counters::default()),
        ),
    );
    let taken = Arc::new(AtomicU64::new(0));
    let seen = taken.clone();
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<RawFrame>| {
            let seen = seen.clone();
            async move {
                let count = ctx.state::<u64>()?;
                while let Some(frame) = ctx.input.recv().await {
                    tokio::time::sleep(PER_FRAME).await;
                    let mut count = count.lock();
                    assert_eq!(frame.index as u64, *count, "frames arrive in order");
                    *count += 1;
                    seen.store(*count, Ordering::Relaxed);
                }
                Ok(())
            }
        },
    );
    graph.connect(&source, &sink);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let mut events = monitor.events().subscribe();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    // Every completed checkpoint's duration, until the sink has taken the whole stream.
    let mut durations = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while taken.load(Ordering::Relaxed) < FRAMES {
            tokio::select! {
                event = events.recv() => match event {
                    Some(Received::Event(event)) if event.event == EventKind::CheckpointCompleted => {
                        durations.push(seconds(&event.reason));
                    }
                    Some(_) => {}
                    None => panic!("the event bus closed"),
                },
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    })
    .await
    .expect("the sink took the whole stream within a minute of virtual time");
    let status = monitor.checkpoints();
    stop.shutdown();
    assert!(running.await.unwrap().is_clean());
    assert_eq!(status.abandoned, 0, "{status:?}");

    // The stream takes the sink 20 s: a checkpoint about every second, each within the time
    // the sink needs for what is queued ahead of its barrier (one edge of one batch, about
    // 1 s). Sent as one backlog, the first barrier would have waited for the whole stream.
    let bound = PER_FRAME.as_secs_f64() * (MAX_BATCH + 1) as f64;
    assert!(
        durations.len() >= 12,
        "{} checkpoints: {durations:?}",
        durations.len()
    );
    for duration in &durations {
        assert!(
            *duration <= bound + 1e-3,
            "{duration} s > {bound} s: {durations:?}"
        );
    }
    // Each one while the replay was still behind, and each consistent: the sink's count is the
    // source's position.
    let store = CheckpointStore::new(dir.path());
    let mut during = 0;
    for id in store.complete().unwrap() {
        let checkpoint = store.load(id).unwrap();
        let position: u64 = checkpoint.position("radar").unwrap().unwrap_or(0);
        let count: u64 = checkpoint.state("sink").unwrap().unwrap_or(0);
        assert_eq!(count, position, "checkpoint {id}");
        if position < FRAMES {
            during += 1;
        }
    }
    assert!(
        during >= 12,
        "{during} checkpoints while the replay was behind"
    );
}
