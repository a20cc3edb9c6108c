//! Throttled sources, in paused time: a throttled source sends at its rate (a batch waits for
//! permits for all its items), nothing is dropped, the waiting is counted, unthrottling restores
//! full speed at once, the limit survives a restart, and shutdown ends the wait.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{collect, store, taken};
use sda_orchestrator::control::{ControlError, ThrottleLimit};
use sda_orchestrator::events::EventKind;
use sda_orchestrator::{
    OperatorGraph, RestartPolicy, SinkContext, SinkFactory, SourceContext, SourceFactory,
    SupervisorEvent, SupervisorPolicy,
};
use tokio::time::{Instant, sleep};

/// A source that sends `0..count` one by one as fast as it may, then finishes.
fn counting(count: u64) -> impl SourceFactory<u64> {
    move |mut ctx: SourceContext<u64>| async move {
        for n in 0..count {
            ctx.output.send(n).await?;
        }
        Ok(())
    }
}

/// A sink that records when (since `start`) each item arrived.
fn timed(start: Instant, arrivals: Arc<Mutex<Vec<(u64, Duration)>>>) -> impl SinkFactory<u64> {
    move |mut ctx: SinkContext<u64>| {
        let arrivals = Arc::clone(&arrivals);
        async move {
            while let Some(n) = ctx.input.recv().await {
                arrivals.lock().unwrap().push((n, start.elapsed()));
            }
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttled_source_sends_at_its_rate_drops_nothing_and_the_wait_is_counted() {
    let start = Instant::now();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), counting(55));
    let k = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        timed(start, Arc::clone(&arrivals)),
    );
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert_eq!(built.controls().throttle("numbers", 10, 5), Ok(true));
    assert_eq!(
        built.run(SupervisorPolicy::default()).await,
        SupervisorEvent::CleanShutdown
    );

    let arrivals = arrivals.lock().unwrap().clone();
    let items: Vec<u64> = arrivals.iter().map(|a| a.0).collect();
    assert_eq!(items, (0..55).collect::<Vec<_>>(), "every item, in order");
    assert_eq!(monitor.dropped_items(), 0);
    // The burst of 5 at once, then one every 100 ms: the 55th leaves at 5 s.
    let at = |i: usize| arrivals[i].1;
    assert_eq!(at(4), Duration::ZERO);
    assert_eq!(at(5), Duration::from_millis(100));
    assert_eq!(at(54), Duration::from_secs(5));
    let in_second = |s: u64| {
        arrivals
            .iter()
            .filter(|a| a.1 > Duration::from_secs(s) && a.1 <= Duration::from_secs(s + 1))
            .count()
    };
    assert!((1..5).all(|s| in_second(s) == 10), "10 per second");
    let source = &monitor.snapshot().operators[0];
    assert_eq!(source.throttle, Some(ThrottleLimit::new(10, 5).unwrap()));
    assert!(
        (source.throttled_seconds - 5.0).abs() < 1e-6,
        "waited {} s",
        source.throttled_seconds
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_waits_for_permits_for_all_its_items_a_burst_at_a_time() {
    let start = Instant::now();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "batches",
        RestartPolicy::default(),
        |mut ctx: SourceContext<u64>| async move {
            for b in 0..3_u64 {
                let mut batch: Vec<u64> = (b * 20..b * 20 + 20).collect();
                ctx.output.send_batch(&mut batch).await?;
            }
            Ok(())
        },
    );
    let seen = Arc::clone(&batches);
    let k = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let seen = Arc::clone(&seen);
            async move {
                let mut batch = Vec::new();
                while ctx.input.recv_many(&mut batch, 1000).await > 0 {
                    seen.lock()
                        .unwrap()
                        .push((std::mem::take(&mut batch), start.elapsed()));
                }
                Ok(())
            }
        },
    );
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    built.controls().throttle("batches", 10, 10).unwrap();
    let monitor = built.monitor();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());

    let batches = batches.lock().unwrap().clone();
    // Each batch of 20 waits for 20 permits, 10 at a time: the first has its first 10 at
    // once and the next 10 a second later; each later one takes two seconds.
    let shape: Vec<(usize, Duration)> = batches.iter().map(|(b, t)| (b.len(), *t)).collect();
    assert_eq!(
        shape,
        [
            (20, Duration::from_secs(1)),
            (20, Duration::from_secs(3)),
            (20, Duration::from_secs(5))
        ],
        "each batch goes whole, once its permits are all there"
    );
    let items: Vec<u64> = batches.into_iter().flat_map(|(b, _)| b).collect();
    assert_eq!(items, (0..60).collect::<Vec<_>>());
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test(start_paused = true)]
async fn unthrottling_restores_full_speed_at_once() {
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), counting(1000));
    let k = graph.add_sink("sink", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let (controls, monitor) = (built.controls(), built.monitor());
    controls.throttle("numbers", 5, 1).unwrap();
    let start = Instant::now();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    // At 5 items a second, 1000 items would take over three minutes.
    sleep(Duration::from_millis(2050)).await;
    assert_eq!(taken(&out).len(), 11, "one at once, then one every 200 ms");
    assert_eq!(controls.unthrottle("numbers"), Ok(true));
    assert_eq!(controls.unthrottle("numbers"), Ok(false));
    assert_eq!(
        running.await.unwrap(),
        SupervisorEvent::CleanShutdown,
        "the rest went without waiting"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(2050));
    assert_eq!(taken(&out), (0..1000).collect::<Vec<_>>());
    assert_eq!(monitor.dropped_items(), 0);
    let kinds: Vec<EventKind> = monitor
        .events()
        .recent()
        .iter()
        .filter(|e| matches!(e.event, EventKind::Throttled | EventKind::Unthrottled))
        .map(|e| e.event)
        .collect();
    assert_eq!(kinds, [EventKind::Throttled, EventKind::Unthrottled]);
    assert_eq!(monitor.snapshot().operators[0].throttle, None);
}

#[tokio::test(start_paused = true)]
async fn the_limit_survives_a_restart_and_shutdown_ends_the_wait() {
    let starts = Arc::new(AtomicU64::new(0));
    let out = store();
    let mut graph = OperatorGraph::new();
    let counted = Arc::clone(&starts);
    let s = graph.add_source(
        "flaky",
        RestartPolicy::bounded(3, Duration::from_secs(60)),
        move |mut ctx: SourceContext<u64>| {
            let start = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                // The first incarnation sends two items and fails; the next sends until
                // shutdown.
                for n in 0.. {
                    if start == 0 && n == 2 {
                        anyhow::bail!("link dropped");
                    }
                    if ctx.shutdown.is_cancelled() {
                        return Ok(());
                    }
                    ctx.output.send(start * 1000 + n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("sink", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let (controls, stop) = (built.controls(), built.shutdown_handle());
    controls.throttle("flaky", 1, 1).unwrap();
    let policy = SupervisorPolicy::default()
        .with_restart_backoff(Duration::from_millis(100), Duration::from_millis(100));
    let running = tokio::spawn(built.run(policy));

    sleep(Duration::from_millis(10_050)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert_eq!(
        controls.throttled("flaky"),
        Ok(Some(ThrottleLimit::new(1, 1).unwrap())),
        "still throttled after the restart"
    );
    // One a second across the restart: 0 at once, 1 at 1 s; then 1000 at 2 s, ... 1008 at 10 s.
    assert_eq!(taken(&out).len(), 11);
    let stopped = Instant::now();
    stop.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "shutdown released the send that waited for a permit"
    );
    let received = taken(&out);
    assert_eq!(
        received.len(),
        12,
        "the item held while waiting was delivered"
    );
    assert_eq!(&received[..3], [0, 1, 1000]);
}

#[test]
fn only_sources_with_a_valid_limit_can_be_throttled() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), counting(1));
    let k = graph.add_sink("sink", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    let controls = graph.build().unwrap().controls();
    assert!(matches!(
        controls.throttle("sink", 10, 10),
        Err(ControlError::NotASource { .. })
    ));
    assert!(matches!(
        controls.unthrottle("nope"),
        Err(ControlError::UnknownOperator(_))
    ));
    assert_eq!(
        controls.throttle("numbers", 0, 10),
        Err(ControlError::InvalidThrottle {
            per_second: 0,
            burst: 10
        })
    );
    assert!(controls.throttle("numbers", 1_000_000_001, 1).is_err());
    assert!(controls.throttle("numbers", 10, 0).is_err());
    assert_eq!(controls.throttled("numbers"), Ok(None));
}
