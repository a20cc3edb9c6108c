//! Restart delays follow the graph's `SupervisorPolicy`, for vertices and router feeds alike:
//! its bounds, its jitter, and the healthy-run reset. In virtual time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_orchestrator::resilience::Jitter;
use sda_orchestrator::{
    OperatorGraph, RestartPolicy, SinkContext, SinkFactory, SourceContext, SourceFactory,
    SupervisorEvent, SupervisorPolicy,
};
use tokio::time::{Instant, sleep};

const SECOND: Duration = Duration::from_secs(1);

/// What an incarnation does, by attempt: `Some(d)` runs for `d` and then fails, `None` returns
/// `Ok(())`.
type Plan = fn(u32) -> Option<Duration>;

/// When each incarnation started and ended.
type Runs = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// A source factory that follows `plan` and logs each incarnation's start and end in `runs`.
fn planned(plan: Plan, runs: Runs) -> impl SourceFactory<u32> {
    move |ctx: SourceContext<u32>| {
        let runs = Arc::clone(&runs);
        async move {
            let started = Instant::now();
            let step = plan(ctx.attempt());
            if let Some(run_for) = step {
                sleep(run_for).await;
            }
            runs.lock().unwrap().push((started, Instant::now()));
            match step {
                Some(_) => anyhow::bail!("link dropped"),
                None => Ok(()),
            }
        }
    }
}

/// A sink that takes everything and keeps nothing.
fn drain() -> impl SinkFactory<u32> {
    |mut ctx: SinkContext<u32>| async move {
        while ctx.input.recv().await.is_some() {}
        Ok(())
    }
}

/// The pauses between one incarnation's end and the next one's start.
fn gaps(runs: &Runs) -> Vec<Duration> {
    let runs = runs.lock().unwrap();
    runs.windows(2).map(|w| w[1].0 - w[0].1).collect()
}

/// Runs a source that follows `plan` under `policy` until it returns `Ok(())`, and returns the
/// restart delays it saw.
async fn vertex_delays(policy: SupervisorPolicy, plan: Plan) -> Vec<Duration> {
    let runs = Runs::default();
    let mut graph = OperatorGraph::new();
    let source = graph.add_source("uplink", RestartPolicy::Always, planned(plan, runs.clone()));
    let sink = graph.add_sink("sink", RestartPolicy::Never, drain());
    graph.connect(&source, &sink);
    let outcome = graph.build().unwrap().run(policy).await;
    assert_eq!(outcome, SupervisorEvent::CleanShutdown);
    gaps(&runs)
}

/// Runs a router feed that follows `plan` under `policy` until it returns `Ok(())`, and returns
/// the restart delays it saw.
async fn feed_delays(policy: SupervisorPolicy, plan: Plan) -> Vec<Duration> {
    let runs = Runs::default();
    let mut graph = OperatorGraph::new();
    let (feeds, router) = graph.add_router::<u32>("feeds", RestartPolicy::Never);
    let sink = graph.add_sink("sink", RestartPolicy::Never, drain());
    graph.connect(&feeds, &sink);
    let running = tokio::spawn(graph.build().unwrap().run(policy));
    router
        .register("uplink", RestartPolicy::Always, planned(plan, runs.clone()))
        .await
        .unwrap();
    // With no handle left, the router finishes once the feed has.
    drop(router);
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    gaps(&runs)
}

/// Fails at once twelve times, then finishes.
fn crash_loop(attempt: u32) -> Option<Duration> {
    (attempt < 12).then_some(Duration::ZERO)
}

/// Fails at once four times, runs ten seconds (longer than an 8 s cap) before failing the fifth
/// time, fails at once once more, then finishes.
fn healthy_run_in_between(attempt: u32) -> Option<Duration> {
    match attempt {
        0..=3 | 5 => Some(Duration::ZERO),
        4 => Some(10 * SECOND),
        _ => None,
    }
}

fn assert_within(delays: &[Duration], base: Duration, cap: Duration) {
    assert_eq!(delays.len(), 12, "{delays:?}");
    for delay in delays {
        assert!(
            (base..=cap).contains(delay),
            "{delay:?} outside [{base:?}, {cap:?}] in {delays:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn feeds_back_off_within_the_policys_bounds() {
    let policy = SupervisorPolicy::default().with_restart_backoff(SECOND, 4 * SECOND);
    let delays = feed_delays(policy, crash_loop).await;
    assert_within(&delays, SECOND, 4 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn vertices_back_off_within_the_policys_bounds() {
    let policy = SupervisorPolicy::default().with_restart_backoff(SECOND, 4 * SECOND);
    let delays = vertex_delays(policy, crash_loop).await;
    assert_within(&delays, SECOND, 4 * SECOND);
}

/// With plain exponential backoff the schedule is exact: 1, 2, 4 and 8 s (the cap); the failure
/// after a ten-second run starts it over at 1 s, and the next failure backs off to 2 s.
#[tokio::test(start_paused = true)]
async fn a_feed_that_ran_healthy_starts_its_backoff_over() {
    let policy = SupervisorPolicy::default()
        .with_restart_backoff(SECOND, 8 * SECOND)
        .with_restart_jitter(Jitter::None);
    let delays = feed_delays(policy, healthy_run_in_between).await;
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_vertex_that_ran_healthy_starts_its_backoff_over() {
    let policy = SupervisorPolicy::default()
        .with_restart_backoff(SECOND, 8 * SECOND)
        .with_restart_jitter(Jitter::None);
    let delays = vertex_delays(policy, healthy_run_in_between).await;
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 1, 2]);
}
