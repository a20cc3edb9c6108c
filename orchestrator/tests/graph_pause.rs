//! Pausing a source holds its sends (nothing dropped, nothing restarted), survives its
//! restarts, gives way to shutdown, and is refused for unknown names and non-sources.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{collect, pass_through, store, taken};
use sda_orchestrator::control::ControlError;
use sda_orchestrator::monitor::OperatorState;
use sda_orchestrator::{
    OperatorGraph, RestartPolicy, Role, SourceContext, SourceFactory, SupervisorEvent,
    SupervisorPolicy,
};
use tokio::time::sleep;

/// A source that sends 0, 1, 2, ... every 10 ms until shutdown, counting what it sent.
fn ticking(sent: Arc<AtomicU64>) -> impl SourceFactory<u64> {
    move |mut ctx: SourceContext<u64>| {
        let sent = Arc::clone(&sent);
        async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(10));
            loop {
                tokio::select! {
                    biased;
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    _ = ticker.tick() => {}
                }
                ctx.output.send(sent.load(Ordering::SeqCst)).await?;
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_paused_source_stays_paused_across_a_restart() {
    let starts = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let out = store();
    let mut graph = OperatorGraph::new();
    let counted = Arc::clone(&starts);
    let inner = ticking(Arc::clone(&sent));
    let inner = Arc::new(std::sync::Mutex::new(inner));
    let s = graph.add_source(
        "flaky",
        RestartPolicy::bounded(3, Duration::from_secs(60)),
        move |ctx: SourceContext<u64>| {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            let run = (inner.lock().unwrap())(ctx);
            async move {
                if first {
                    anyhow::bail!("the first start fails");
                }
                run.await
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let controls = built.controls();
    let monitor = built.monitor();
    let stop = built.shutdown_handle();
    assert_eq!(controls.pause("flaky"), Ok(true));
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    sleep(Duration::from_secs(10)).await;
    let source = monitor.snapshot().operators[0].clone();
    assert_eq!(starts.load(Ordering::SeqCst), 2, "restarted once");
    assert_eq!(source.restarts, 1);
    assert_eq!(source.state, OperatorState::Paused);
    assert!(source.paused);
    assert_eq!(source.last_error.as_deref(), Some("the first start fails"));
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "the restarted source is still paused"
    );
    assert!(taken(&out).is_empty());

    assert_eq!(controls.resume("flaky"), Ok(true));
    sleep(Duration::from_millis(100)).await;
    assert!(sent.load(Ordering::SeqCst) > 0);
    assert_eq!(
        monitor.snapshot().operators[0].state,
        OperatorState::Running
    );

    stop.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    let sent = sent.load(Ordering::SeqCst);
    assert_eq!(taken(&out), (0..sent).collect::<Vec<_>>());
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_a_paused_source_and_its_held_item_is_delivered() {
    let produced = Arc::new(AtomicU64::new(0));
    let out = store();
    let mut graph = OperatorGraph::new();
    let counted = Arc::clone(&produced);
    let s = graph.add_source(
        "ticks",
        RestartPolicy::default(),
        move |mut ctx: SourceContext<u64>| {
            let produced = Arc::clone(&counted);
            async move {
                while !ctx.shutdown.is_cancelled() {
                    // Pulls first, then sends: paused, it holds the item it pulled.
                    let n = produced.fetch_add(1, Ordering::SeqCst);
                    ctx.output.send(n).await?;
                    sleep(Duration::from_millis(10)).await;
                }
                Ok(())
            }
        },
    );
    let p = graph.add_operator("pass", RestartPolicy::default(), pass_through::<u64>());
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&s, &p).connect(&p, &k);
    let built = graph.build().unwrap();
    let controls = built.controls();
    let monitor = built.monitor();
    let stop = built.shutdown_handle();
    controls.pause("ticks").unwrap();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        1,
        "one pull, held by the paused send"
    );
    assert!(taken(&out).is_empty());

    // The drain deadline is far away: a clean shutdown proves the wait gave way to it.
    stop.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    assert_eq!(
        taken(&out),
        vec![0],
        "the held item was delivered, not dropped"
    );
    assert_eq!(monitor.dropped_items(), 0);
    assert!(
        controls.is_paused("ticks").unwrap(),
        "shutdown does not resume the source"
    );
}

#[tokio::test(start_paused = true)]
async fn a_poller_that_awaits_resumed_issues_nothing_while_paused() {
    let polls = Arc::new(AtomicU64::new(0));
    let out = store();
    let mut graph = OperatorGraph::new();
    let counted = Arc::clone(&polls);
    let s = graph.add_source(
        "poller",
        RestartPolicy::default(),
        move |mut ctx: SourceContext<u64>| {
            let polls = Arc::clone(&counted);
            async move {
                loop {
                    tokio::select! {
                        biased;
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        () = ctx.resumed() => {}
                    }
                    if ctx.shutdown.is_cancelled() {
                        return Ok(());
                    }
                    // Stands for an HTTP request to a sensor.
                    let n = polls.fetch_add(1, Ordering::SeqCst);
                    ctx.output.send(n).await?;
                    sleep(Duration::from_millis(10)).await;
                }
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let controls = built.controls();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    sleep(Duration::from_millis(105)).await;
    controls.pause("poller").unwrap();
    // The poll under way when the pause came finishes; after that, nothing.
    sleep(Duration::from_millis(20)).await;
    let at_pause = polls.load(Ordering::SeqCst);
    assert!(at_pause > 0);
    sleep(Duration::from_secs(10)).await;
    assert_eq!(
        polls.load(Ordering::SeqCst),
        at_pause,
        "no poll while paused"
    );

    controls.resume("poller").unwrap();
    sleep(Duration::from_millis(100)).await;
    assert!(polls.load(Ordering::SeqCst) > at_pause);

    stop.shutdown();
    assert!(running.await.unwrap().is_clean());
    let polls = polls.load(Ordering::SeqCst);
    assert_eq!(taken(&out), (0..polls).collect::<Vec<_>>());
}

#[test]
fn only_known_sources_can_be_paused() {
    let mut graph = OperatorGraph::new();
    let (feeds, _router) = graph.add_router::<u8>("feeds", RestartPolicy::default());
    let p = graph.add_operator("pass", RestartPolicy::default(), pass_through::<u8>());
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&feeds, &p).connect(&p, &k);
    let built = graph.build().unwrap();
    let controls = built.controls();

    assert_eq!(controls.sources(), vec!["feeds".to_owned()]);
    assert_eq!(
        controls.pause("nope"),
        Err(ControlError::UnknownOperator("nope".into()))
    );
    assert_eq!(
        controls.pause("pass"),
        Err(ControlError::NotASource {
            operator: "pass".into(),
            role: Role::Operator
        })
    );
    assert_eq!(
        controls.resume("collect").unwrap_err().to_string(),
        "operator `collect` is a sink, not a source: only sources can be paused or throttled"
    );
    assert_eq!(controls.is_paused("feeds"), Ok(false));
    assert_eq!(controls.pause("feeds"), Ok(true));
    assert_eq!(controls.pause("feeds"), Ok(false), "pausing is idempotent");
    let clone = controls.clone();
    assert_eq!(
        clone.is_paused("feeds"),
        Ok(true),
        "clones control the same graph"
    );
    let snapshot = built.monitor().snapshot();
    assert_eq!(snapshot.operators[0].state, OperatorState::Paused);
    assert!(snapshot.operators[0].paused);
    assert!(!snapshot.operators[1].paused);
    assert_eq!(snapshot.operators[1].state, OperatorState::Pending);
    assert_eq!(clone.resume("feeds"), Ok(true));
    assert_eq!(clone.resume("feeds"), Ok(false));
    assert_eq!(
        built.monitor().snapshot().operators[0].state,
        OperatorState::Pending
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_error_is_kept_cut_to_the_bound() {
    let long = "x".repeat(5000);
    let mut graph = OperatorGraph::new();
    let message = long.clone();
    let s = graph.add_source(
        "failing",
        RestartPolicy::Never,
        move |_ctx: SourceContext<u8>| {
            let message = message.clone();
            async move { Err(anyhow::anyhow!(message)) }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let outcome = built.run(SupervisorPolicy::default()).await;
    assert_eq!(outcome.operator(), Some("failing"));
    let source = monitor.snapshot().operators[0].clone();
    assert_eq!(source.state, OperatorState::Failed);
    let error = source.last_error.unwrap();
    assert!(
        error.len() <= sda_orchestrator::monitor::MAX_ERROR_TEXT,
        "{}",
        error.len()
    );
    assert!(error.ends_with('…'));
    assert!(long.starts_with(error.trim_end_matches('…')));
}
