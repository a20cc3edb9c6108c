//! State and recovery at the public API: state survives an in-process restart; a graph dropped
//! in the middle of its run (standing in for a crash) and a new graph resumed from the
//! checkpoint directory restore states and positions, and with a replaying source and a sink
//! idempotent by id the output is the same as a run without the crash; sources hear of
//! completed checkpoints with the positions the checkpoints recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_orchestrator::checkpoint::{CheckpointConfig, CheckpointStore};
use sda_orchestrator::events::{EventKind, Received};
use sda_orchestrator::{
    InputEvent, OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SourceContext,
    SupervisorPolicy,
};
use tokio_util::sync::CancellationToken;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sda-recover-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn policy() -> SupervisorPolicy {
    SupervisorPolicy::default().with_restart_backoff(Duration::ZERO, Duration::ZERO)
}

/// State kept in a `State` handle survives a restart with no code of the operator's own, and
/// without checkpoints.
#[tokio::test(start_paused = true)]
async fn state_survives_an_in_process_restart() {
    let total = Arc::new(Mutex::new(None));
    let mut graph = OperatorGraph::new();
    let numbers = graph.add_source("numbers", RestartPolicy::Never, |mut ctx| async move {
        for n in 1..=100_u64 {
            ctx.output.send(n).await?;
        }
        Ok(())
    });
    let count = graph.add_operator(
        "count",
        RestartPolicy::Always,
        |mut ctx: OperatorContext<u64, u64>| async move {
            let count = ctx.state::<u64>()?;
            while let Some(n) = ctx.input.recv().await {
                if n == 50 && ctx.attempt() == 0 {
                    ctx.input.give_back(vec![n]);
                    anyhow::bail!("injected");
                }
                let seen = count.update(|c| {
                    *c += 1;
                    *c
                });
                ctx.output.send(seen).await?;
            }
            Ok(())
        },
    );
    let last = Arc::clone(&total);
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let last = Arc::clone(&last);
            async move {
                while let Some(seen) = ctx.input.recv().await {
                    *last.lock().unwrap() = Some(seen);
                }
                Ok(())
            }
        },
    );
    graph.connect(&numbers, &count).connect(&count, &sink);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert!(built.run(policy()).await.is_clean());
    assert_eq!(monitor.total_restarts(), 1);
    // Counted on across the restart: one count per number, none lost, none twice.
    assert_eq!(*total.lock().unwrap(), Some(100));
}

const ITEMS: u64 = 1_000;

/// What the external, durable store the sink writes into holds: by record id, the running sum
/// computed for it, and how many writes it took (replays write again).
#[derive(Default)]
struct Database {
    rows: BTreeMap<u64, u64>,
    writes: u64,
}

/// The pipeline: a replayable source of `0..ITEMS` (one every millisecond, its position the next
/// number), a running sum kept in state, and a sink idempotent by record id that commits with
/// each checkpoint. `crash_after` cancels `crashed` once the sink has written that record;
/// `restored` receives the running sum the operator's first incarnation started from.
fn pipeline(
    checkpoints: Option<&PathBuf>,
    database: Arc<Mutex<Database>>,
    crash_after: Option<u64>,
    crashed: CancellationToken,
    restored: Arc<Mutex<Option<u64>>>,
) -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    if let Some(directory) = checkpoints {
        graph = graph.with_checkpoints(
            CheckpointConfig::new(directory).with_interval(Duration::from_millis(25)),
        );
    }
    let source = graph.add_source(
        "replay",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            let start: u64 = ctx.restored_position()?.unwrap_or(0);
            for n in start..ITEMS {
                if ctx.shutdown.is_cancelled() {
                    return Ok(());
                }
                ctx.output.send_at(n, n + 1).await?;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let sum = graph.add_operator(
        "sum",
        RestartPolicy::Never,
        move |mut ctx: OperatorContext<u64, (u64, u64)>| {
            let restored = Arc::clone(&restored);
            async move {
                let sum = ctx.state::<u64>()?;
                *restored.lock().unwrap() = Some(sum.get());
                while let Some(n) = ctx.input.recv().await {
                    let total = sum.update(|s| {
                        *s += n;
                        *s
                    });
                    ctx.output.send((n, total)).await?;
                }
                Ok(())
            }
        },
    );
    let sink = graph.add_sink(
        "store",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<(u64, u64)>| {
            let (database, crashed) = (Arc::clone(&database), crashed.clone());
            async move {
                while let Some(event) = ctx.input.recv_event().await {
                    match event {
                        InputEvent::Item((id, total)) => {
                            let mut db = database.lock().unwrap();
                            db.rows.insert(id, total);
                            db.writes += 1;
                            if Some(id) == crash_after {
                                crashed.cancel();
                            }
                            if id + 1 == ITEMS {
                                crashed.cancel();
                            }
                        }
                        // Each write above is durable at once: nothing to flush before the commit.
                        InputEvent::Checkpoint(token) => token.commit(),
                        InputEvent::Watermark(_) => {}
                    }
                }
                Ok(())
            }
        },
    );
    graph.connect(&source, &sum).connect(&sum, &sink);
    graph
}

/// Runs `graph` until `stop` fires; then drops it (`crash`) or shuts it down.
async fn run(graph: OperatorGraph, stop: CancellationToken, crash: bool) {
    let built = graph.build().unwrap();
    let shutdown = built.shutdown_handle();
    let mut running = Box::pin(built.run(policy()));
    tokio::select! {
        outcome = &mut running => panic!("the graph ended on its own: {outcome:?}"),
        () = stop.cancelled() => {}
    }
    if crash {
        // The run future is dropped: every vertex is aborted where it is, nothing drains, the
        // coordinator stops. What the store holds stays, as a database's would.
        drop(running);
        // A checkpoint write already on the blocking pool goes on (in a real crash it would
        // die with the process): let it end, so that the directory does not change under the
        // next build. The clock is paused and does not advance while a blocking task runs, so
        // this sleep ends only once the write has.
        tokio::time::sleep(Duration::from_secs(1)).await;
        return;
    }
    shutdown.shutdown();
    assert!(
        tokio::time::timeout(Duration::from_secs(60), running)
            .await
            .unwrap()
            .is_clean()
    );
}

#[tokio::test(start_paused = true)]
async fn a_crash_and_a_resume_give_exactly_once_output_with_an_idempotent_sink() {
    let nothing = Arc::new(Mutex::new(None));
    // Without a crash (and without checkpoints): the expected output.
    let clean = Arc::new(Mutex::new(Database::default()));
    let done = CancellationToken::new();
    run(
        pipeline(
            None,
            Arc::clone(&clean),
            None,
            done.clone(),
            Arc::clone(&nothing),
        ),
        done,
        false,
    )
    .await;
    let clean = std::mem::take(&mut *clean.lock().unwrap());
    assert_eq!(clean.rows.len() as u64, ITEMS);

    // With a crash two thirds of the way through, and a resume.
    let scratch = Scratch::new("crash");
    let database = Arc::new(Mutex::new(Database::default()));
    let crashed = CancellationToken::new();
    run(
        pipeline(
            Some(&scratch.0),
            Arc::clone(&database),
            Some(666),
            crashed.clone(),
            Arc::clone(&nothing),
        ),
        crashed,
        true,
    )
    .await;
    let latest = CheckpointStore::new(&scratch.0)
        .latest()
        .unwrap()
        .expect("checkpoints were taken");
    let position: u64 = latest.position("replay").unwrap().unwrap();
    let sum_at_checkpoint: u64 = latest.state("sum").unwrap().unwrap();
    assert!(position > 100 && position <= 667, "{position}");
    assert_eq!(
        sum_at_checkpoint,
        (0..position).sum::<u64>(),
        "the state matches the position"
    );
    assert!(
        database.lock().unwrap().rows.len() as u64 > position,
        "the crash came after the checkpoint"
    );

    let restored = Arc::new(Mutex::new(None));
    let finished = CancellationToken::new();
    let resumed = pipeline(
        Some(&scratch.0),
        Arc::clone(&database),
        None,
        finished.clone(),
        Arc::clone(&restored),
    );
    run(resumed, finished, false).await;
    assert_eq!(
        *restored.lock().unwrap(),
        Some(sum_at_checkpoint),
        "the operator resumed from its state"
    );

    let database = database.lock().unwrap();
    assert!(
        database.writes > ITEMS,
        "records after the checkpoint were replayed"
    );
    // Every record once, with the value a run without the crash computed.
    assert_eq!(database.rows, clean.rows);
}

/// A graph resumed from a checkpoint reports it to `build` and restores it even with nothing
/// left to replay; a second resume from a later checkpoint goes on from there.
#[tokio::test(start_paused = true)]
async fn build_reports_the_checkpoint_it_resumes_from() {
    let scratch = Scratch::new("report");
    let database = Arc::new(Mutex::new(Database::default()));
    let nothing = Arc::new(Mutex::new(None));
    let fresh = pipeline(
        Some(&scratch.0),
        Arc::clone(&database),
        None,
        CancellationToken::new(),
        Arc::clone(&nothing),
    );
    let built = fresh.build().unwrap();
    assert_eq!(built.restored_checkpoint(), None);
    assert_eq!(built.monitor().checkpoints().restored_from, None);
    drop(built);

    let stop = CancellationToken::new();
    run(
        pipeline(
            Some(&scratch.0),
            Arc::clone(&database),
            Some(300),
            stop.clone(),
            Arc::clone(&nothing),
        ),
        stop,
        true,
    )
    .await;
    let latest = CheckpointStore::new(&scratch.0)
        .latest()
        .unwrap()
        .unwrap()
        .id();
    let again = pipeline(
        Some(&scratch.0),
        database,
        None,
        CancellationToken::new(),
        nothing,
    )
    .build()
    .unwrap();
    assert_eq!(again.restored_checkpoint(), Some(latest));
    assert_eq!(again.monitor().checkpoints().restored_from, Some(latest));
}

/// A source hears of every completed checkpoint it is waiting for, with the position recorded
/// in it: what a source over a durable log acknowledges.
#[tokio::test(start_paused = true)]
async fn completed_checkpoints_reach_the_source_with_their_positions() {
    let scratch = Scratch::new("completed");
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut graph = OperatorGraph::new().with_checkpoints(
        CheckpointConfig::new(&scratch.0)
            .with_interval(Duration::from_millis(20))
            .with_keep(1000),
    );
    let log = Arc::clone(&heard);
    let source = graph.add_source(
        "log",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<u64>| {
            let log = Arc::clone(&log);
            async move {
                let mut completed = ctx.completed_checkpoints::<u64>();
                assert_eq!(
                    completed.latest()?,
                    None,
                    "nothing completed before the first"
                );
                let mut sequence = 0_u64;
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                loop {
                    tokio::select! {
                        biased;
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        done = completed.next() => {
                            let done = done?;
                            log.lock().unwrap().push((done.id, done.position, sequence));
                        }
                        _ = tick.tick() => {
                            ctx.output.send_at(sequence, sequence + 1).await?;
                            sequence += 1;
                        }
                    }
                }
            }
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
    graph.connect(&source, &sink);
    let built = graph.build().unwrap();
    let mut events = built.monitor().events().subscribe();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(policy()));
    let mut completed = 0;
    tokio::time::timeout(Duration::from_secs(60), async {
        while completed < 8 {
            if let Some(Received::Event(event)) = events.recv().await
                && event.event == EventKind::CheckpointCompleted
            {
                completed += 1;
            }
        }
    })
    .await
    .unwrap();
    stop.shutdown();
    assert!(running.await.unwrap().is_clean());

    let heard = heard.lock().unwrap().clone();
    // The source looks between its sends: it hears of all but possibly the last.
    assert!(heard.len() >= 7, "{heard:?}");
    let store = CheckpointStore::new(&scratch.0);
    let mut last = (0, 0);
    for (id, position, sent) in heard {
        let stored = store.load(id).unwrap();
        let position = position.expect("the source recorded positions");
        assert_eq!(
            stored.position::<u64>("log").unwrap(),
            Some(position),
            "checkpoint {id}"
        );
        assert!(
            position <= sent,
            "a checkpoint never covers what was not sent"
        );
        assert!(
            id > last.0 && position >= last.1,
            "ids and positions only move forward"
        );
        last = (id, position);
    }
}
