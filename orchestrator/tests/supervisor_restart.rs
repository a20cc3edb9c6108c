//! Restart budgets, panics and clean exits, in virtual time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{collect, run_graph, send_all, store, taken};
use sda_orchestrator::monitor::OperatorState;
use sda_orchestrator::supervisor::{RestartBudget, RestartDecision};
use sda_orchestrator::{
    EdgeOptions, OperatorContext, OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy,
};
use tokio::sync::Notify;
use tokio::time::{Instant, advance};

const MINUTE: Duration = Duration::from_secs(60);

/// A graph `numbers -> flaky -> collect` whose operator runs `run_for` then fails, for its first
/// `failures` incarnations, and passes items through after that.
fn flaky_graph(
    policy: RestartPolicy,
    failures: u32,
    run_for: Duration,
    starts: Arc<AtomicU32>,
    out: Arc<std::sync::Mutex<Vec<u32>>>,
) -> OperatorGraph {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..10u32).collect()),
    );
    let flaky = graph.add_operator(
        "flaky",
        policy,
        move |mut ctx: OperatorContext<u32, u32>| {
            let attempt = starts.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < failures {
                    tokio::time::sleep(run_for).await;
                    anyhow::bail!("transient failure {attempt}");
                }
                while let Some(n) = ctx.input.recv().await {
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out));
    graph.connect(&s, &flaky).connect(&flaky, &k);
    graph
}

#[tokio::test(start_paused = true)]
async fn restarts_within_the_budget_and_loses_nothing_queued() {
    let (starts, out) = (Arc::new(AtomicU32::new(0)), store());
    let graph = flaky_graph(
        RestartPolicy::bounded(3, MINUTE),
        3,
        Duration::ZERO,
        starts.clone(),
        out.clone(),
    );
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert_eq!(
        built.run(SupervisorPolicy::default()).await,
        SupervisorEvent::CleanShutdown
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        4,
        "one start and three restarts"
    );
    assert_eq!(
        taken(&out),
        (0..10).collect::<Vec<_>>(),
        "queued items survive restarts"
    );
    let flaky = &monitor.snapshot().operators[1];
    assert_eq!((flaky.name.as_str(), flaky.restarts), ("flaky", 3));
    assert_eq!(flaky.last_error.as_deref(), Some("transient failure 2"));
    assert_eq!(monitor.total_restarts(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_escalates_naming_the_operator() {
    let (starts, out) = (Arc::new(AtomicU32::new(0)), store());
    let graph = flaky_graph(
        RestartPolicy::bounded(3, MINUTE),
        4,
        Duration::ZERO,
        starts.clone(),
        out,
    );
    let outcome = run_graph(graph).await;
    assert_eq!(
        outcome,
        SupervisorEvent::BudgetExhausted {
            operator: "flaky".into(),
            restarts_in_window: 3,
            last_error: "transient failure 3".into(),
        }
    );
    assert_eq!(outcome.operator(), Some("flaky"));
    assert_eq!(
        starts.load(Ordering::SeqCst),
        4,
        "no restart after the budget is spent"
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_comes_back_once_the_window_has_passed() {
    // Each incarnation runs 40 s before failing, so at most one earlier restart is ever inside
    // the 60 s window: six failures in a row never exhaust a budget of two.
    let (starts, out) = (Arc::new(AtomicU32::new(0)), store());
    let policy = RestartPolicy::bounded(2, MINUTE);
    let graph = flaky_graph(
        policy,
        6,
        Duration::from_secs(40),
        starts.clone(),
        out.clone(),
    );
    let outcome = run_graph(graph).await;
    assert_eq!(outcome, SupervisorEvent::CleanShutdown);
    assert_eq!(starts.load(Ordering::SeqCst), 7);
    assert_eq!(taken(&out).len(), 10);

    // The same failures packed 10 s apart do exhaust it.
    let starts = Arc::new(AtomicU32::new(0));
    let graph = flaky_graph(policy, 6, Duration::from_secs(10), starts.clone(), store());
    let outcome = run_graph(graph).await;
    assert!(matches!(
        outcome,
        SupervisorEvent::BudgetExhausted {
            restarts_in_window: 2,
            ..
        }
    ));
    assert_eq!(starts.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn never_escalates_on_the_first_error() {
    let (starts, out) = (Arc::new(AtomicU32::new(0)), store());
    let graph = flaky_graph(RestartPolicy::Never, 1, Duration::ZERO, starts.clone(), out);
    let outcome = run_graph(graph).await;
    assert!(matches!(
        outcome,
        SupervisorEvent::BudgetExhausted {
            restarts_in_window: 0,
            ..
        }
    ));
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_budget_state_machine_slides_its_window() {
    tokio::time::pause();
    let mut budget = RestartBudget::new(RestartPolicy::bounded(2, MINUTE));
    assert_eq!(
        budget.on_failure(Instant::now()),
        RestartDecision::Restart {
            attempt: 1,
            restarts_in_window: 1
        }
    );
    advance(Duration::from_secs(30)).await;
    assert_eq!(
        budget.on_failure(Instant::now()),
        RestartDecision::Restart {
            attempt: 2,
            restarts_in_window: 2
        }
    );
    advance(Duration::from_secs(29)).await;
    assert_eq!(
        budget.on_failure(Instant::now()),
        RestartDecision::Exhausted {
            restarts_in_window: 2
        }
    );
    // At 60 s the first restart ages out and one restart is available again.
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        budget.on_failure(Instant::now()),
        RestartDecision::Restart {
            attempt: 3,
            restarts_in_window: 2
        }
    );
    assert_eq!(
        budget.on_failure(Instant::now()),
        RestartDecision::Exhausted {
            restarts_in_window: 2
        }
    );
    assert_eq!(budget.total_restarts(), 3);

    let mut always = RestartBudget::new(RestartPolicy::Always);
    for attempt in 1..=100 {
        assert!(
            matches!(always.on_failure(Instant::now()), RestartDecision::Restart { attempt: a, .. } if a == attempt)
        );
    }
    let mut never = RestartBudget::new(RestartPolicy::Never);
    assert_eq!(
        never.on_failure(Instant::now()),
        RestartDecision::Exhausted {
            restarts_in_window: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_surfaced_never_restarted_and_stops_the_graph() {
    let starts = Arc::new(AtomicU32::new(0));
    let mut graph = OperatorGraph::new();
    // An endless source: the graph can only end because the panic stops it.
    let s = graph.add_source("ticks", RestartPolicy::default(), |mut ctx| async move {
        let mut n = 0u32;
        loop {
            tokio::select! {
                () = ctx.shutdown.cancelled() => return Ok(()),
                sent = ctx.output.send(n) => sent?,
            }
            n += 1;
        }
    });
    let counted = starts.clone();
    let explode = graph.add_operator(
        "explode",
        RestartPolicy::Always,
        move |mut ctx: OperatorContext<u32, u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                while let Some(n) = ctx.input.recv().await {
                    if n == 5 {
                        panic!("boom at {n}");
                    }
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &explode).connect(&explode, &k);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let outcome = built.run(SupervisorPolicy::default()).await;
    assert_eq!(
        outcome,
        SupervisorEvent::Panicked {
            operator: "explode".into(),
            message: "boom at 5".into()
        }
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        1,
        "a panic is never restarted"
    );
    let states: Vec<OperatorState> = monitor
        .snapshot()
        .operators
        .iter()
        .map(|o| o.state)
        .collect();
    assert_eq!(states[1], OperatorState::Failed);
    assert!(
        states.iter().all(|s| matches!(
            s,
            OperatorState::Failed | OperatorState::Aborted | OperatorState::Finished
        )),
        "{states:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_factory_is_surfaced_too() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), send_all(vec![1u8]));
    let k = graph.add_sink(
        "bad_factory",
        RestartPolicy::Never,
        |_ctx: sda_orchestrator::SinkContext<u8>| -> std::future::Ready<anyhow::Result<()>> {
            panic!("cannot open the archive")
        },
    );
    graph.connect(&s, &k);
    let outcome = run_graph(graph).await;
    assert_eq!(
        outcome,
        SupervisorEvent::Panicked {
            operator: "bad_factory".into(),
            message: "cannot open the archive".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_clean_exit_is_not_restarted() {
    let starts = Arc::new(AtomicU32::new(0));
    let counted = starts.clone();
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("three", RestartPolicy::Always, move |mut ctx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            for n in 0..3u32 {
                ctx.output.send(n).await?;
            }
            Ok(())
        }
    });
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert_eq!(taken(&out), vec![0, 1, 2]);
    assert!(
        monitor
            .snapshot()
            .operators
            .iter()
            .all(|o| o.state == OperatorState::Finished && o.restarts == 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_every_item_queued_on_the_input() {
    // The source fills the operator's input; the operator's first incarnation fails without
    // taking anything. Its replacement must find all 100 items still queued.
    let filled = Arc::new(Notify::new());
    let (signal, wait) = (filled.clone(), filled);
    let starts = Arc::new(AtomicU32::new(0));
    let counted = starts.clone();
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("filler", RestartPolicy::Never, move |mut ctx| {
        let signal = signal.clone();
        async move {
            for n in 0..100u32 {
                ctx.output.send(n).await?;
            }
            signal.notify_one();
            Ok(())
        }
    });
    let op = graph.add_operator(
        "fails_once",
        RestartPolicy::bounded(1, MINUTE),
        move |mut ctx: OperatorContext<u32, u32>| {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            let wait = wait.clone();
            async move {
                if first {
                    wait.notified().await;
                    assert_eq!(ctx.input.len(), 100);
                    anyhow::bail!("lost the database connection");
                }
                while let Some(n) = ctx.input.recv().await {
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph
        .connect_with(&s, &op, EdgeOptions::new().capacity(128))
        .connect(&op, &k);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert_eq!(taken(&out), (0..100).collect::<Vec<_>>());
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_early_clean_exit_counts_what_it_left_queued() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_all((0..10u32).collect()),
    );
    let quitter = graph.add_sink(
        "quitter",
        RestartPolicy::Never,
        |mut ctx: sda_orchestrator::SinkContext<u32>| async move {
            // Wait until everything is queued, take one item, and leave.
            while ctx.input.len() < 10 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let _ = ctx.input.recv().await;
            Ok(())
        },
    );
    graph.connect_with(&s, &quitter, EdgeOptions::new().capacity(16));
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    assert_eq!(monitor.dropped_items(), 9);
    assert_eq!(monitor.snapshot().operators[1].dropped, 9);
}
