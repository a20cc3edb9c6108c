//! Checkpoint barriers at the public API: alignment across fan-in, fan-out, filtered and
//! priority edges; a restart in the middle of an alignment; an idle source; a source blocked on
//! a full edge; a sink that commits slowly; a checkpoint that times out and the one after it.
//!
//! Every test runs on paused tokio time. Consistency is checked on the checkpoints themselves:
//! each state recorded must hold exactly the items its sources sent before the positions
//! recorded in the same checkpoint, which is what alignment promises (no item from before a
//! barrier missing, none from after it taken).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_orchestrator::checkpoint::{CheckpointConfig, CheckpointStore, StoredCheckpoint};
use sda_orchestrator::events::{EventKind, EventSubscription, Received};
use sda_orchestrator::{
    BuiltGraph, EdgeOptions, InputEvent, Lane, OperatorContext, OperatorGraph, RestartPolicy,
    SinkContext, SourceContext, SourceFactory, SupervisorEvent, SupervisorPolicy,
};
use serde::{Deserialize, Serialize};

/// A checkpoint directory of its own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sda-ckpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    fn config(&self, interval_ms: u64) -> CheckpointConfig {
        CheckpointConfig::new(&self.0)
            .with_interval(Duration::from_millis(interval_ms))
            .with_keep(1000)
    }

    fn checkpoints(&self) -> Vec<StoredCheckpoint> {
        let store = CheckpointStore::new(&self.0);
        store
            .complete()
            .unwrap()
            .into_iter()
            .map(|id| store.load(id).unwrap())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Tagged {
    source: u8,
    index: u64,
}

fn policy() -> SupervisorPolicy {
    SupervisorPolicy::default().with_restart_backoff(Duration::ZERO, Duration::ZERO)
}

/// Sends `count` tagged items from its restored position on, one every `pause`, recording each
/// one's position; then waits for shutdown (checkpoints need every source running).
fn emitter(tag: u8, count: u64, pause: Duration) -> impl SourceFactory<Tagged> {
    move |mut ctx: SourceContext<Tagged>| async move {
        let start: u64 = ctx.restored_position()?.unwrap_or(0);
        for index in start..count {
            if ctx.shutdown.is_cancelled() {
                return Ok(());
            }
            ctx.output
                .send_at(Tagged { source: tag, index }, index + 1)
                .await?;
            tokio::time::sleep(pause).await;
        }
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}

/// Waits (in paused time, bounded) for `count` more events of `kind`; returns their reasons.
async fn wait_for(events: &mut EventSubscription, kind: EventKind, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(3600), async {
        while seen.len() < count {
            match events.recv().await {
                Some(Received::Event(event)) if event.event == kind => {
                    seen.push(event.reason.clone())
                }
                Some(_) => {}
                None => panic!("the event bus closed"),
            }
        }
    })
    .await
    .expect("the events came");
    seen
}

/// Runs `built` until `count` checkpoints completed, then shuts it down.
async fn run_until_checkpoints(built: BuiltGraph, count: usize) -> SupervisorEvent {
    let mut events = built.monitor().events().subscribe();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(policy()));
    wait_for(&mut events, EventKind::CheckpointCompleted, count).await;
    stop.shutdown();
    running.await.unwrap()
}

/// The items of `checkpoint`'s sources that came before their recorded positions.
fn before_positions(checkpoint: &StoredCheckpoint, sources: &[(&str, u8)]) -> BTreeSet<Tagged> {
    let mut items = BTreeSet::new();
    for (name, tag) in sources {
        let position: u64 = checkpoint.position(name).unwrap().unwrap_or(0);
        items.extend((0..position).map(|index| Tagged {
            source: *tag,
            index,
        }));
    }
    items
}

fn recorded(checkpoint: &StoredCheckpoint, vertex: &str) -> Vec<Tagged> {
    checkpoint
        .state::<Vec<Tagged>>(vertex)
        .unwrap()
        .unwrap_or_default()
}

/// Each source's items in `items` come in the order the source sent them.
fn in_order_per_source(items: &[Tagged]) -> bool {
    let mut last: [Option<u64>; 256] = [None; 256];
    items.iter().all(|item| {
        let slot = &mut last[usize::from(item.source)];
        let ordered = slot.is_none_or(|previous| previous < item.index);
        *slot = Some(item.index);
        ordered
    })
}

/// Fan-in: a fast source straight into `join`, a slow one behind a slow relay. The fast edge is
/// held while the slow one's barrier makes its way through the relay, and every checkpoint's
/// state at `join` (and at the sink behind it) holds exactly the items before the positions.
#[tokio::test(start_paused = true)]
async fn fan_in_is_aligned_and_every_checkpoint_is_consistent() {
    let scratch = Scratch::new("fan-in");
    let held_while_receiving = Arc::new(AtomicBool::new(false));
    let mut graph = OperatorGraph::new().with_checkpoints(scratch.config(20));
    let fast = graph.add_source(
        "fast",
        RestartPolicy::Never,
        emitter(0, 400, Duration::from_millis(1)),
    );
    let slow = graph.add_source(
        "slow",
        RestartPolicy::Never,
        emitter(1, 80, Duration::from_millis(3)),
    );
    let relay = graph.add_operator(
        "relay",
        RestartPolicy::Never,
        |mut ctx: OperatorContext<Tagged, Tagged>| async move {
            while let Some(item) = ctx.input.recv().await {
                tokio::time::sleep(Duration::from_millis(4)).await;
                ctx.output.send(item).await?;
            }
            Ok(())
        },
    );
    let seen = Arc::clone(&held_while_receiving);
    let join = graph.add_operator(
        "join",
        RestartPolicy::Never,
        move |mut ctx: OperatorContext<Tagged, Tagged>| {
            let seen = Arc::clone(&seen);
            async move {
                let state = ctx.state::<Vec<Tagged>>()?;
                while let Some(item) = ctx.input.recv().await {
                    if ctx.input.aligning().is_some() {
                        // Items still arrive (from the edge whose barrier is late) while the other
                        // edge is held.
                        seen.store(true, Ordering::Relaxed);
                    }
                    state.lock().push(item);
                    ctx.output.send(item).await?;
                }
                Ok(())
            }
        },
    );
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |mut ctx: SinkContext<Tagged>| async move {
            let state = ctx.state::<Vec<Tagged>>()?;
            while let Some(item) = ctx.input.recv().await {
                state.lock().push(item);
            }
            Ok(())
        },
    );
    let small = EdgeOptions::new().capacity(4);
    graph
        .connect(&fast, &join)
        .connect_with(&slow, &relay, small)
        .connect_with(&relay, &join, small)
        .connect(&join, &sink);

    assert!(
        run_until_checkpoints(graph.build().unwrap(), 12)
            .await
            .is_clean()
    );
    assert!(
        held_while_receiving.load(Ordering::Relaxed),
        "no alignment ever held an edge"
    );
    let checkpoints = scratch.checkpoints();
    assert!(checkpoints.len() >= 12);
    let mut grew = 0;
    let mut previous = 0;
    for checkpoint in &checkpoints {
        let expected = before_positions(checkpoint, &[("fast", 0), ("slow", 1)]);
        for vertex in ["join", "sink"] {
            let state = recorded(checkpoint, vertex);
            assert!(
                in_order_per_source(&state),
                "{vertex} reordered a source's items"
            );
            assert_eq!(
                state.len(),
                expected.len(),
                "checkpoint {} at {vertex}",
                checkpoint.id()
            );
            assert_eq!(
                state.into_iter().collect::<BTreeSet<_>>(),
                expected,
                "checkpoint {} at {vertex}",
                checkpoint.id()
            );
        }
        if expected.len() > previous {
            grew += 1;
        }
        previous = expected.len();
    }
    assert!(grew >= 5, "checkpoints were taken while items flowed");
}

fn even(item: &Tagged) -> bool {
    item.index.is_multiple_of(2)
}

fn every_fifth_urgent(item: &Tagged) -> Lane {
    if item.index.is_multiple_of(5) {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

fn recorder()
-> impl FnMut(SinkContext<Tagged>) -> futures::future::BoxFuture<'static, anyhow::Result<()>>
+ Send
+ 'static {
    |mut ctx: SinkContext<Tagged>| {
        Box::pin(async move {
            let state = ctx.state::<Vec<Tagged>>()?;
            while let Some(item) = ctx.input.recv().await {
                // Slower than the source (tokio's timers tick in milliseconds), so that queues
                // build up and emergencies overtake.
                tokio::time::sleep(Duration::from_millis(3)).await;
                state.lock().push(item);
            }
            Ok(())
        })
    }
}

/// Fan-out to a plain, a filtered and a priority edge: the barrier goes on all three (the
/// filter does not drop it; on the priority edge it goes behind both lanes), and each sink's
/// state in every checkpoint is exactly what it was sent before the source's position.
#[tokio::test(start_paused = true)]
async fn fan_out_filtered_and_priority_edges_carry_the_barrier() {
    let scratch = Scratch::new("fan-out");
    let mut graph = OperatorGraph::new().with_checkpoints(scratch.config(15));
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        emitter(0, 300, Duration::from_millis(1)),
    );
    let plain = graph.add_sink("plain", RestartPolicy::Never, recorder());
    let filtered = graph.add_sink("filtered", RestartPolicy::Never, recorder());
    let priority = graph.add_sink("priority", RestartPolicy::Never, recorder());
    graph
        .connect_with(&source, &plain, EdgeOptions::new().capacity(8))
        .connect_with(
            &source,
            &filtered,
            EdgeOptions::new().capacity(8).filter(even),
        )
        .connect_with(
            &source,
            &priority,
            EdgeOptions::new().capacity(8).priority(every_fifth_urgent),
        );

    assert!(
        run_until_checkpoints(graph.build().unwrap(), 10)
            .await
            .is_clean()
    );
    let checkpoints = scratch.checkpoints();
    let mut reordered = false;
    for checkpoint in &checkpoints {
        let all = before_positions(checkpoint, &[("source", 0)]);
        let plain = recorded(checkpoint, "plain");
        assert_eq!(
            plain,
            all.iter().copied().collect::<Vec<_>>(),
            "plain, checkpoint {}",
            checkpoint.id()
        );
        let filtered = recorded(checkpoint, "filtered");
        let evens: Vec<Tagged> = all.iter().copied().filter(even).collect();
        assert_eq!(filtered, evens, "filtered, checkpoint {}", checkpoint.id());
        let priority = recorded(checkpoint, "priority");
        reordered |= !in_order_per_source(&priority);
        assert_eq!(
            priority.len(),
            all.len(),
            "priority, checkpoint {}",
            checkpoint.id()
        );
        assert_eq!(
            priority.into_iter().collect::<BTreeSet<_>>(),
            all,
            "priority, checkpoint {}",
            checkpoint.id()
        );
    }
    assert!(
        reordered,
        "the emergency lane never overtook the routine lane"
    );
    assert!(
        checkpoints
            .last()
            .is_some_and(|c| c.position::<u64>("source").unwrap() > Some(50))
    );
}

/// An operator that fails in the middle of an alignment (one edge held, the other's barrier
/// still on its way) is restarted, and the new incarnation goes on with the same alignment:
/// the checkpoint completes and is consistent.
#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_of_an_alignment_continues_it() {
    let scratch = Scratch::new("restart");
    let failed_while = Arc::new(AtomicU64::new(0));
    let resumed_with = Arc::new(AtomicU64::new(0));
    let mut graph = OperatorGraph::new().with_checkpoints(scratch.config(20));
    let fast = graph.add_source(
        "fast",
        RestartPolicy::Never,
        emitter(0, 400, Duration::from_millis(1)),
    );
    let slow = graph.add_source(
        "slow",
        RestartPolicy::Never,
        emitter(1, 80, Duration::from_millis(3)),
    );
    let relay = graph.add_operator(
        "relay",
        RestartPolicy::Never,
        |mut ctx: OperatorContext<Tagged, Tagged>| async move {
            while let Some(item) = ctx.input.recv().await {
                tokio::time::sleep(Duration::from_millis(4)).await;
                ctx.output.send(item).await?;
            }
            Ok(())
        },
    );
    let (failed, resumed) = (Arc::clone(&failed_while), Arc::clone(&resumed_with));
    let join = graph.add_sink(
        "join",
        RestartPolicy::Always,
        move |mut ctx: SinkContext<Tagged>| {
            let (failed, resumed) = (Arc::clone(&failed), Arc::clone(&resumed));
            async move {
                let state = ctx.state::<Vec<Tagged>>()?;
                if ctx.attempt() == 1 {
                    resumed.store(ctx.input.aligning().unwrap_or(0), Ordering::Relaxed);
                }
                while let Some(item) = ctx.input.recv().await {
                    if ctx.attempt() == 0
                        && let Some(id) = ctx.input.aligning()
                    {
                        // Fails holding an item: gives it back first, so that nothing is lost.
                        failed.store(id, Ordering::Relaxed);
                        ctx.input.give_back(vec![item]);
                        anyhow::bail!("injected failure while aligning checkpoint {id}");
                    }
                    state.lock().push(item);
                }
                Ok(())
            }
        },
    );
    let small = EdgeOptions::new().capacity(4);
    graph
        .connect(&fast, &join)
        .connect_with(&slow, &relay, small)
        .connect_with(&relay, &join, small);
    let built = graph.build().unwrap();
    let monitor = built.monitor();

    assert!(run_until_checkpoints(built, 8).await.is_clean());
    assert_eq!(monitor.total_restarts(), 1);
    assert_eq!(monitor.dropped_items(), 0);
    let failed_while = failed_while.load(Ordering::Relaxed);
    assert!(failed_while > 0);
    assert_eq!(
        resumed_with.load(Ordering::Relaxed),
        failed_while,
        "the new incarnation aligns the same checkpoint"
    );
    let checkpoints = scratch.checkpoints();
    assert!(
        checkpoints.iter().any(|c| c.id() == failed_while),
        "the checkpoint aligned across the restart completed"
    );
    for checkpoint in &checkpoints {
        let expected = before_positions(checkpoint, &[("fast", 0), ("slow", 1)]);
        let state: BTreeSet<Tagged> = recorded(checkpoint, "join").into_iter().collect();
        assert_eq!(state, expected, "checkpoint {}", checkpoint.id());
    }
}

/// A source that sends nothing, paused even, does not hold checkpoints up: its barrier is
/// emitted for it, with the position it had.
#[tokio::test(start_paused = true)]
async fn an_idle_source_does_not_block_a_checkpoint() {
    let scratch = Scratch::new("idle");
    let mut graph = OperatorGraph::new().with_checkpoints(scratch.config(50));
    let quiet = graph.add_source(
        "quiet",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            ctx.output.send_at(7, 1_u64).await?;
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |mut ctx: SinkContext<u64>| async move {
            while ctx.input.recv().await.is_some() {}
            Ok(())
        },
    );
    graph.connect(&quiet, &sink);
    let built = graph.build().unwrap();
    built.controls().pause("quiet").unwrap();
    let monitor = built.monitor();
    assert!(run_until_checkpoints(built, 3).await.is_clean());
    assert!(monitor.checkpoints().completed >= 3);
    assert_eq!(monitor.checkpoints().abandoned, 0);
    // Paused before its first send: the position is the one it never got to record.
    for checkpoint in scratch.checkpoints() {
        assert_eq!(checkpoint.position::<u64>("quiet").unwrap(), None);
    }
}

/// A source blocked by backpressure still gets its barrier out, in order: a send that waits
/// for room on its only edge has put nothing there yet, so the barrier goes ahead of it at once
/// with the position of what was sent before, instead of waiting for the room and then for the
/// batch to be taken. Here a source sends batches as large as its edge (100 items) to a sink
/// that takes 10 ms an item, so every send waits for the edge to empty: each checkpoint takes
/// at most the time the sink needs for what is already queued (1 s), not that plus another
/// batch, and each still records exactly the items before its position.
#[tokio::test(start_paused = true)]
async fn a_source_blocked_on_a_full_edge_gets_its_barrier_out_at_once() {
    const CAPACITY: u64 = 100;
    const PER_ITEM: Duration = Duration::from_millis(10);
    let scratch = Scratch::new("blocked");
    let mut graph = OperatorGraph::new().with_checkpoints(scratch.config(1_500));
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            let mut sent: u64 = 0;
            while !ctx.shutdown.is_cancelled() {
                let mut batch: Vec<u64> = (sent..sent + CAPACITY).collect();
                ctx.output
                    .send_batch_at(&mut batch, sent + CAPACITY)
                    .await?;
                sent += CAPACITY;
            }
            Ok(())
        },
    );
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |mut ctx: SinkContext<u64>| async move {
            let taken = ctx.state::<u64>()?;
            while let Some(item) = ctx.input.recv().await {
                tokio::time::sleep(PER_ITEM).await;
                let mut taken = taken.lock();
                assert_eq!(item, *taken, "items arrive in order");
                *taken += 1;
            }
            Ok(())
        },
    );
    graph.connect_with(
        &source,
        &sink,
        EdgeOptions::new().capacity(CAPACITY as usize),
    );
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let mut events = monitor.events().subscribe();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(policy()));
    let completed = wait_for(&mut events, EventKind::CheckpointCompleted, 4).await;
    let status = monitor.checkpoints();
    stop.shutdown();
    assert!(running.await.unwrap().is_clean());
    assert_eq!(status.abandoned, 0, "{status:?}");
    // "checkpoint {id} completed in {s} s, {n} bytes": at most a full edge's worth of the
    // sink's time (plus the item in its hands), where waiting for the room first would add
    // another full edge's worth.
    let drain = PER_ITEM.as_secs_f64() * (CAPACITY + 1) as f64;
    for reason in &completed {
        let seconds: f64 = reason
            .split(" completed in ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no duration in {reason:?}"));
        assert!(seconds <= drain + 1e-3, "{reason}: more than {drain} s");
    }
    let checkpoints = scratch.checkpoints();
    assert!(checkpoints.len() >= 4);
    for checkpoint in &checkpoints {
        let position: u64 = checkpoint.position("source").unwrap().unwrap();
        let taken: u64 = checkpoint.state("sink").unwrap().unwrap();
        assert_eq!(taken, position, "checkpoint {}", checkpoint.id());
    }
}

/// A sink that takes barriers explicitly makes its checkpoint wait until it commits: here it
/// "flushes" for 3 s before each commit.
#[tokio::test(start_paused = true)]
async fn a_slow_sink_delays_completion_until_it_commits() {
    let scratch = Scratch::new("slow-sink");
    let mut graph = OperatorGraph::new()
        .with_checkpoints(scratch.config(100).with_timeout(Duration::from_secs(10)));
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        emitter(0, 1_000, Duration::from_millis(5)),
    );
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |mut ctx: SinkContext<Tagged>| async move {
            while let Some(event) = ctx.input.recv_event().await {
                if let InputEvent::Checkpoint(token) = event {
                    tokio::time::sleep(Duration::from_secs(3)).await; // the flush and fsync
                    token.commit();
                }
            }
            Ok(())
        },
    );
    graph.connect(&source, &sink);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let mut events = monitor.events().subscribe();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(policy()));
    wait_for(&mut events, EventKind::CheckpointCompleted, 2).await;
    let status = monitor.checkpoints();
    stop.shutdown();
    assert!(running.await.unwrap().is_clean());
    assert_eq!(status.abandoned, 0);
    assert!(status.last_duration_seconds.unwrap() >= 3.0, "{status:?}");
}

/// A checkpoint that does not complete within its timeout is abandoned (logged, counted, an
/// event), and the next one completes; a late commit of the abandoned one changes nothing. A
/// token dropped without a commit abandons its checkpoint at once.
#[tokio::test(start_paused = true)]
async fn a_timed_out_checkpoint_is_abandoned_and_the_next_completes() {
    let scratch = Scratch::new("timeout");
    let mut graph = OperatorGraph::new()
        .with_checkpoints(scratch.config(100).with_timeout(Duration::from_secs(1)));
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        emitter(0, 100_000, Duration::from_millis(5)),
    );
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |mut ctx: SinkContext<Tagged>| async move {
            let mut barriers = 0;
            while let Some(event) = ctx.input.recv_event().await {
                if let InputEvent::Checkpoint(token) = event {
                    barriers += 1;
                    match barriers {
                        1 => {
                            // Past the timeout (1 s); the next checkpoint has started meanwhile.
                            tokio::time::sleep(Duration::from_millis(1_500)).await;
                            token.commit();
                        }
                        2 => drop(token),
                        _ => token.commit(),
                    }
                }
            }
            Ok(())
        },
    );
    graph.connect(&source, &sink);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let mut events = monitor.events().subscribe();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(policy()));
    let abandoned = wait_for(&mut events, EventKind::CheckpointAbandoned, 2).await;
    assert!(
        abandoned[0].contains("timed out") && abandoned[0].contains("`sink`"),
        "{}",
        abandoned[0]
    );
    assert!(
        abandoned[1].contains("without committing"),
        "{}",
        abandoned[1]
    );
    wait_for(&mut events, EventKind::CheckpointCompleted, 1).await;
    let status = monitor.checkpoints();
    stop.shutdown();
    assert!(running.await.unwrap().is_clean());
    assert_eq!(status.abandoned, 2);
    assert!(status.completed >= 1);
    assert_eq!(
        scratch.checkpoints().first().map(|c| c.id()),
        Some(3),
        "checkpoints 1 and 2 were not written"
    );
}

/// A vertex reached only through a lossy broadcast edge takes no part: checkpoints complete
/// without it, and its state is not in them.
#[tokio::test(start_paused = true)]
async fn a_broadcast_consumer_is_not_aligned() {
    let scratch = Scratch::new("broadcast");
    let display_saw = Arc::new(Mutex::new(0_u64));
    let mut graph = OperatorGraph::new().with_checkpoints(scratch.config(20));
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        emitter(0, 500, Duration::from_millis(1)),
    );
    let archive = graph.add_sink("archive", RestartPolicy::Never, recorder());
    let saw = Arc::clone(&display_saw);
    let display = graph.add_sink(
        "display",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<Tagged>| {
            let saw = Arc::clone(&saw);
            async move {
                let state = ctx.state::<u64>()?;
                while ctx.input.recv().await.is_some() {
                    *state.lock() += 1;
                    *saw.lock().unwrap() += 1;
                }
                Ok(())
            }
        },
    );
    graph.connect(&source, &archive).connect_with(
        &source,
        &display,
        EdgeOptions::new().broadcast(16),
    );
    assert!(
        run_until_checkpoints(graph.build().unwrap(), 5)
            .await
            .is_clean()
    );
    assert!(*display_saw.lock().unwrap() > 0);
    for checkpoint in scratch.checkpoints() {
        assert_eq!(checkpoint.state::<u64>("display").unwrap(), None);
        let all = before_positions(&checkpoint, &[("source", 0)]);
        assert_eq!(recorded(&checkpoint, "archive").len(), all.len());
    }
}
