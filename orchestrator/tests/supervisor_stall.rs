//! The stall watchdog, in paused time: a stuck operator is reported once (event, state, gauge)
//! and its report ends when it progresses; `report` leaves it alone, `restart` restarts it under
//! its budget with its queue intact; slow progress, an idle operator, an operator held back by
//! its downstream and a source are never stalled.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{collect, pass_through, send_all, store, taken};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sda_orchestrator::events::{Event, EventKind, EventSubscription, Received};
use sda_orchestrator::monitor::{OperatorState, metric_names};
use sda_orchestrator::{
    EdgeOptions, OnStall, OperatorContext, OperatorFactory, OperatorGraph, RestartPolicy,
    SinkContext, SourceContext, SourceFactory, SupervisorEvent, SupervisorPolicy,
};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

const STALL: Duration = Duration::from_secs(5);

/// The next event of `kind`, skipping the others.
async fn next_of(events: &mut EventSubscription, kind: EventKind) -> Arc<Event> {
    loop {
        match events.recv().await {
            Some(Received::Event(event)) if event.event == kind => return event,
            Some(_) => {}
            None => panic!("the bus closed before a `{kind}` event"),
        }
    }
}

/// Every event still held by the bus, by kind and operator.
fn held(built_events: &sda_orchestrator::events::EventBus) -> Vec<(EventKind, Option<String>)> {
    built_events
        .recent()
        .iter()
        .map(|e| (e.event, e.operator.clone()))
        .collect()
}

fn stalls(events: &[(EventKind, Option<String>)]) -> Vec<String> {
    events
        .iter()
        .filter(|(kind, _)| *kind == EventKind::Stalled)
        .filter_map(|(_, operator)| operator.clone())
        .collect()
}

/// A source that sends 0, 1, 2, ... every 100 ms until shutdown.
fn ticking(sent: Arc<AtomicU64>) -> impl SourceFactory<u64> {
    move |mut ctx: SourceContext<u64>| {
        let sent = Arc::clone(&sent);
        async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    biased;
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    _ = ticker.tick() => {}
                }
                ctx.output.send(sent.fetch_add(1, Ordering::SeqCst)).await?;
            }
        }
    }
}

/// An operator that takes one item, then waits for `release` before it forwards it and
/// everything after it; it records the incarnation that forwarded anything.
fn stuck_until(
    release: CancellationToken,
    attempts: Arc<AtomicU64>,
) -> impl OperatorFactory<u64, u64> {
    move |mut ctx: OperatorContext<u64, u64>| {
        let (release, attempts) = (release.clone(), Arc::clone(&attempts));
        async move {
            while let Some(n) = ctx.input.recv().await {
                release.cancelled().await;
                attempts.store(u64::from(ctx.attempt()), Ordering::SeqCst);
                ctx.output.send(n).await?;
            }
            Ok(())
        }
    }
}

fn gauge(
    snapshot: &[(
        metrics_util::CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    operator: &str,
) -> Option<f64> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let ours = key.name() == metric_names::OPERATOR_STALLED
            && key
                .labels()
                .any(|l| l.key() == "operator" && l.value() == operator);
        match value {
            DebugValue::Gauge(v) if ours => Some(v.into_inner()),
            _ => None,
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_stuck_operator_is_reported_once_left_alone_and_cleared_when_it_progresses() {
    // The only test of this binary that installs a recorder; the others' metrics carry other
    // operator names.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let (sent, out, release) = (
        Arc::new(AtomicU64::new(0)),
        store(),
        CancellationToken::new(),
    );
    let attempts = Arc::new(AtomicU64::new(99));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "ticks",
        RestartPolicy::default(),
        ticking(Arc::clone(&sent)),
    );
    let stuck = graph.add_operator(
        "stuck",
        RestartPolicy::default(),
        stuck_until(release.clone(), Arc::clone(&attempts)),
    );
    let k = graph.add_sink("sink", RestartPolicy::Never, collect(out.clone()));
    graph
        .connect_with(&s, &stuck, EdgeOptions::new().capacity(8))
        .connect(&stuck, &k)
        .stall_after(&stuck, STALL)
        .on_stall(&stuck, OnStall::Report);
    let built = graph.build().unwrap();
    let (monitor, stop) = (built.monitor(), built.shutdown_handle());
    let mut events = monitor.events().subscribe();
    let started = Instant::now();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    let stalled = next_of(&mut events, EventKind::Stalled).await;
    let after = started.elapsed();
    assert!(
        after >= STALL && after <= STALL * 3 / 2 + Duration::from_millis(100),
        "reported after {after:?}"
    );
    assert_eq!(stalled.operator.as_deref(), Some("stuck"));
    assert!(stalled.reason.starts_with("stalled: no progress for"));
    assert!(
        stalled.reason.contains("queued on its input"),
        "{}",
        stalled.reason
    );
    let snapshot = monitor.snapshot();
    let op = &snapshot.operators[1];
    assert_eq!((op.state, op.stalled), (OperatorState::Stalled, true));
    assert!(!snapshot.operators[0].stalled, "a source is never stalled");
    assert_eq!(
        gauge(&snapshotter.snapshot().into_vec(), "stuck"),
        Some(1.0)
    );

    // Reported once, and left alone: no restart however long it stays stuck.
    sleep(STALL * 6).await;
    assert_eq!(stalls(&held(monitor.events())), ["stuck"]);
    assert_eq!(monitor.total_restarts(), 0);
    assert_eq!(
        monitor.snapshot().operators[1].state,
        OperatorState::Stalled
    );

    // Progress ends the report at the watchdog's next look (every 1.25 s here).
    release.cancel();
    sleep(Duration::from_secs(2)).await;
    let op = &monitor.snapshot().operators[1];
    assert_eq!((op.state, op.stalled), (OperatorState::Running, false));
    assert_eq!(
        gauge(&snapshotter.snapshot().into_vec(), "stuck"),
        Some(0.0)
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        0,
        "the same incarnation went on"
    );

    stop.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    let sent = sent.load(Ordering::SeqCst);
    assert_eq!(taken(&out), (0..sent).collect::<Vec<_>>(), "nothing lost");
    assert_eq!(monitor.dropped_items(), 0);
    assert_eq!(stalls(&held(monitor.events())), ["stuck"]);
}

/// An operator whose first incarnation hangs (before taking anything, or after taking one
/// item when `take_first`), and whose later incarnations forward everything.
fn hangs_first_time(take_first: bool) -> impl OperatorFactory<u64, u64> {
    move |mut ctx: OperatorContext<u64, u64>| async move {
        if ctx.attempt() == 0 {
            if take_first {
                let _held = ctx.input.recv().await;
            }
            std::future::pending::<()>().await;
        }
        while let Some(n) = ctx.input.recv().await {
            ctx.output.send(n).await?;
        }
        Ok(())
    }
}

async fn run_with_a_stall_restart(take_first: bool) -> (Vec<u64>, u64, Vec<EventKind>) {
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..20_u64).collect()),
    );
    let hung = graph.add_operator(
        "hung",
        RestartPolicy::bounded(3, Duration::from_secs(60)),
        hangs_first_time(take_first),
    );
    let k = graph.add_sink("out", RestartPolicy::Never, collect(out.clone()));
    graph
        .connect_with(&s, &hung, EdgeOptions::new().capacity(32))
        .connect(&hung, &k)
        .stall_after(&hung, STALL)
        .on_stall(&hung, OnStall::Restart);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let outcome = built.run(SupervisorPolicy::default()).await;
    assert_eq!(outcome, SupervisorEvent::CleanShutdown);
    assert_eq!(monitor.total_restarts(), 1);
    let kinds = monitor
        .events()
        .recent()
        .iter()
        .filter(|e| e.operator.as_deref() == Some("hung"))
        .map(|e| e.event)
        .collect();
    let restart = monitor
        .events()
        .recent()
        .iter()
        .find(|e| e.event == EventKind::Restart)
        .map(|e| e.reason.clone())
        .unwrap();
    assert!(restart.starts_with("stalled: no progress for"), "{restart}");
    (taken(&out), monitor.dropped_items(), kinds)
}

#[tokio::test(start_paused = true)]
async fn restart_aborts_and_restarts_it_and_the_queue_survives() {
    let (received, dropped, kinds) = run_with_a_stall_restart(false).await;
    assert_eq!(
        received,
        (0..20).collect::<Vec<_>>(),
        "every queued item survived"
    );
    assert_eq!(dropped, 0);
    assert_eq!(
        kinds,
        [
            EventKind::Spawn,
            EventKind::Stalled,
            EventKind::Restart,
            EventKind::CleanExit
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_item_a_restarted_operator_held_is_counted_as_dropped() {
    let (received, dropped, _) = run_with_a_stall_restart(true).await;
    assert_eq!(
        received,
        (1..20).collect::<Vec<_>>(),
        "the queue behind it survived"
    );
    assert_eq!(dropped, 1, "the item it held is counted, not lost silently");
}

#[tokio::test(start_paused = true)]
async fn a_stall_restart_counts_against_the_restart_budget() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), send_all(vec![1_u64]));
    let hung = graph.add_operator("hung", RestartPolicy::Never, hangs_first_time(false));
    let k = graph.add_sink("out", RestartPolicy::Never, collect(store()));
    graph
        .connect(&s, &hung)
        .connect(&hung, &k)
        .stall_after(&hung, STALL)
        .on_stall(&hung, OnStall::Restart);
    let outcome = graph
        .build()
        .unwrap()
        .run(SupervisorPolicy::default())
        .await;
    assert!(
        matches!(&outcome, SupervisorEvent::BudgetExhausted { operator, last_error, .. }
            if operator == "hung" && last_error.starts_with("stalled")),
        "{outcome:?}"
    );
}

/// Runs `graph` to its end and returns the operators reported as stalled.
async fn stalled_in(graph: OperatorGraph, policy: SupervisorPolicy) -> Vec<String> {
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert_eq!(built.run(policy).await, SupervisorEvent::CleanShutdown);
    stalls(&held(monitor.events()))
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_progressing_operator_is_not_stalled() {
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..10_u64).collect()),
    );
    // Each item takes 80 % of the stall threshold, with the rest of them queued behind it.
    let slow = graph.add_operator(
        "slow",
        RestartPolicy::default(),
        |mut ctx: OperatorContext<u64, u64>| async move {
            while let Some(n) = ctx.input.recv().await {
                sleep(STALL * 4 / 5).await;
                ctx.output.send(n).await?;
            }
            Ok(())
        },
    );
    let k = graph.add_sink("out", RestartPolicy::Never, collect(out.clone()));
    graph
        .connect(&s, &slow)
        .connect(&slow, &k)
        .stall_after(&slow, STALL);
    let started = Instant::now();
    assert_eq!(
        stalled_in(graph, SupervisorPolicy::default()).await,
        Vec::<String>::new()
    );
    assert!(
        started.elapsed() >= STALL * 8,
        "it ran long enough to be seen"
    );
    assert_eq!(taken(&out).len(), 10);
}

#[tokio::test(start_paused = true)]
async fn an_idle_operator_with_an_empty_input_is_not_stalled() {
    let mut graph = OperatorGraph::new();
    // One item, a long silence, one more.
    let s = graph.add_source(
        "quiet",
        RestartPolicy::default(),
        |mut ctx: SourceContext<u64>| async move {
            ctx.output.send(1).await?;
            sleep(STALL * 10).await;
            ctx.output.send(2).await?;
            Ok(())
        },
    );
    let idle = graph.add_operator("idle", RestartPolicy::default(), pass_through::<u64>());
    let k = graph.add_sink("out", RestartPolicy::Never, collect(store()));
    graph
        .connect(&s, &idle)
        .connect(&idle, &k)
        .stall_after(&idle, STALL);
    assert_eq!(
        stalled_in(graph, SupervisorPolicy::default()).await,
        Vec::<String>::new()
    );
}

#[tokio::test(start_paused = true)]
async fn sources_are_never_stalled() {
    let mut graph = OperatorGraph::new();
    // A source that sends nothing until shutdown.
    let s = graph.add_source(
        "silent",
        RestartPolicy::default(),
        |ctx: SourceContext<u64>| async move {
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let k = graph.add_sink("out", RestartPolicy::Never, collect(store()));
    graph
        .connect(&s, &k)
        .stall_after(&s, Duration::from_millis(10))
        .stall_after(&k, Duration::from_millis(10));
    let built = graph.build().unwrap();
    let (monitor, stop) = (built.monitor(), built.shutdown_handle());
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    sleep(Duration::from_secs(60)).await;
    assert!(monitor.snapshot().operators.iter().all(|op| !op.stalled));
    stop.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    assert_eq!(stalls(&held(monitor.events())), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn only_the_stuck_end_of_a_chain_is_reported_not_what_waits_behind_it() {
    let release = CancellationToken::new();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..100_u64).collect()),
    );
    let middle = graph.add_operator("middle", RestartPolicy::default(), pass_through::<u64>());
    let opened = release.clone();
    let end = graph.add_sink(
        "end",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let opened = opened.clone();
            async move {
                opened.cancelled().await;
                while ctx.input.recv().await.is_some() {}
                Ok(())
            }
        },
    );
    graph
        .connect_with(&s, &middle, EdgeOptions::new().capacity(4))
        .connect_with(&middle, &end, EdgeOptions::new().capacity(4))
        .stall_after(&middle, STALL)
        .stall_after(&end, STALL);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let mut events = monitor.events().subscribe();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    let stalled = next_of(&mut events, EventKind::Stalled).await;
    assert_eq!(stalled.operator.as_deref(), Some("end"));
    sleep(STALL * 4).await;
    assert_eq!(
        stalls(&held(monitor.events())),
        ["end"],
        "`middle` waits on `end`; it is not stalled itself"
    );
    release.cancel();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
}

#[tokio::test(start_paused = true)]
async fn the_policy_can_turn_the_watchdog_off() {
    let release = CancellationToken::new();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..5_u64).collect()),
    );
    let stuck = graph.add_operator(
        "stuck_off",
        RestartPolicy::default(),
        stuck_until(release.clone(), Arc::new(AtomicU64::new(0))),
    );
    let k = graph.add_sink("out", RestartPolicy::Never, collect(store()));
    graph
        .connect(&s, &stuck)
        .connect(&stuck, &k)
        .stall_after(&stuck, STALL);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let running = tokio::spawn(built.run(SupervisorPolicy::default().with_stall_watchdog(false)));
    sleep(STALL * 10).await;
    release.cancel();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    assert_eq!(stalls(&held(monitor.events())), Vec::<String>::new());
}

#[test]
fn a_zero_threshold_and_a_foreign_handle_are_build_errors() {
    use sda_orchestrator::graph::GraphErrorKind;

    let mut other = OperatorGraph::new();
    let foreign = other.add_sink("elsewhere", RestartPolicy::Never, collect::<u64>(store()));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), send_all(vec![1_u64]));
    let k = graph.add_sink("out", RestartPolicy::Never, collect(store()));
    graph
        .connect(&s, &k)
        .stall_after(&k, Duration::ZERO)
        .on_stall(&foreign, OnStall::Restart);
    let error = graph.build().unwrap_err();
    let kinds: Vec<&GraphErrorKind> = error.errors().iter().map(|e| e.kind()).collect();
    assert!(matches!(
        kinds.as_slice(),
        [
            GraphErrorKind::ZeroStallAfter { operator },
            GraphErrorKind::ForeignVertex { setting: "on_stall" },
        ] if operator == "out"
    ));
    assert!(error.to_string().contains("`out` has `stall_after` 0"));
}
