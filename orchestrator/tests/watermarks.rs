//! Watermarks at the public API: propagation through fan-in and an operator (property tests),
//! idle inputs on paused time, an operator that takes its watermark over, and the edge view.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use sda_orchestrator::time::{EventTime, Timestamped};
use sda_orchestrator::{
    InputEvent, OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SourceContext,
    SupervisorPolicy,
};
use tokio_util::sync::CancellationToken;

/// One step of a source's script.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Send an item that happened at this time.
    Item(i64),
    /// Advance the watermark to this time (ignored when it is not later than the last).
    Advance(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    source: usize,
    time: i64,
    /// The last item of its source's script.
    last: bool,
}

impl Timestamped for Event {
    fn event_time(&self) -> EventTime {
        EventTime::from_unix_micros(self.time)
    }
}

/// A script a well-behaved source could follow: no item earlier than a watermark it already
/// advanced to, watermarks that sometimes go back (to be ignored), and a last item.
fn script() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0_i64..40, 0_u8..10), 0..40).prop_map(|raw| {
        let mut floor = 1_i64;
        let mut steps = Vec::new();
        for (delta, kind) in raw {
            match kind {
                0..=5 => steps.push(Step::Item(floor + delta)),
                6..=8 => {
                    floor += delta;
                    steps.push(Step::Advance(floor));
                }
                _ => steps.push(Step::Advance(floor - delta)), // goes back: ignored
            }
        }
        steps.push(Step::Item(floor));
        steps
    })
}

/// The latest watermark a script advances to, if any.
fn final_watermark(script: &[Step]) -> Option<i64> {
    script
        .iter()
        .filter_map(|s| match s {
            Step::Advance(w) => Some(*w),
            Step::Item(_) => None,
        })
        .max()
}

/// What a vertex saw: each item with the inbox's watermark right after taking it.
type Seen = Arc<Mutex<Vec<(Event, Option<EventTime>)>>>;

fn check_seen(seen: &[(Event, Option<EventTime>)], sources: usize, expected: Option<i64>) {
    let mut previous = None;
    for (event, watermark) in seen {
        // Monotone, and never ahead of an item that arrives after it.
        assert!(
            *watermark >= previous,
            "the watermark went back: {previous:?} then {watermark:?}"
        );
        previous = *watermark;
        assert!(
            watermark.is_none_or(|w| w <= event.event_time()),
            "watermark {watermark:?} is ahead of {event:?}"
        );
    }
    // Once every source's last item is in, every watermark before it has been taken: the
    // inbox's is the minimum of the sources' last ones.
    assert_eq!(seen.iter().filter(|(e, _)| e.last).count(), sources);
    assert_eq!(
        seen.last().and_then(|(_, w)| *w),
        expected.map(EventTime::from_unix_micros)
    );
}

fn propagate(scripts: Vec<Vec<Step>>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (at_relay, at_sink): (Seen, Seen) = Default::default();
    let count = scripts.len();
    let everything_in = CancellationToken::new();
    let mut graph = OperatorGraph::new();
    let relay_seen = Arc::clone(&at_relay);
    // An operator that does not handle time: it forwards its input watermark.
    let relay = graph.add_operator(
        "relay",
        RestartPolicy::Never,
        move |mut ctx: OperatorContext<Event, Event>| {
            let seen = Arc::clone(&relay_seen);
            async move {
                while let Some(event) = ctx.input.recv().await {
                    seen.lock().unwrap().push((event, ctx.input.watermark()));
                    ctx.output.send(event).await?;
                }
                Ok(())
            }
        },
    );
    let (sink_seen, done) = (Arc::clone(&at_sink), everything_in.clone());
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<Event>| {
            let (seen, done) = (Arc::clone(&sink_seen), done.clone());
            async move {
                let mut last = 0;
                while let Some(event) = ctx.input.recv().await {
                    seen.lock().unwrap().push((event, ctx.input.watermark()));
                    last += usize::from(event.last);
                    if last == count {
                        done.cancel();
                    }
                }
                Ok(())
            }
        },
    );
    for (index, script) in scripts.iter().cloned().enumerate() {
        let source = graph.add_source(
            format!("s{index}"),
            RestartPolicy::Never,
            move |mut ctx: SourceContext<Event>| {
                let script = script.clone();
                async move {
                    let steps = script.len();
                    for (n, step) in script.into_iter().enumerate() {
                        match step {
                            Step::Item(time) => {
                                let last = n + 1 == steps;
                                ctx.output
                                    .send(Event {
                                        source: index,
                                        time,
                                        last,
                                    })
                                    .await?;
                            }
                            Step::Advance(time) => {
                                ctx.output
                                    .advance_watermark(EventTime::from_unix_micros(time));
                            }
                        }
                        if n % 3 == 0 {
                            tokio::task::yield_now().await; // interleave the sources
                        }
                    }
                    // Stay open: a finished source's edge would leave the minimum.
                    ctx.shutdown.cancelled().await;
                    Ok(())
                }
            },
        );
        graph.connect(&source, &relay);
    }
    graph.connect(&relay, &sink);
    runtime.block_on(async {
        let built = graph.build().unwrap();
        let stop = built.shutdown_handle();
        let running = tokio::spawn(built.run(SupervisorPolicy::default()));
        tokio::time::timeout(Duration::from_secs(30), everything_in.cancelled())
            .await
            .expect("every item arrived");
        stop.shutdown();
        assert!(running.await.unwrap().is_clean());
    });
    let expected = scripts
        .iter()
        .map(|s| final_watermark(s))
        .collect::<Option<Vec<i64>>>()
        .and_then(|w| w.into_iter().min());
    check_seen(&at_relay.lock().unwrap(), count, expected);
    check_seen(&at_sink.lock().unwrap(), count, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Through fan-in and an operator that does not handle time: the watermark is the minimum
    /// over the inputs, monotone, never ahead of an item that arrives after it, and forwarded
    /// downstream unchanged.
    #[test]
    fn watermarks_are_the_monotone_minimum_over_inputs(scripts in prop::collection::vec(script(), 1..4)) {
        propagate(scripts);
    }
}

/// An input that says nothing for the idle timeout is left out of the minimum, and rejoins it
/// when it speaks again, without the watermark going back.
#[tokio::test(start_paused = true)]
async fn an_idle_input_is_left_out_until_it_speaks_again() {
    let ms = |n: i64| EventTime::from_unix_micros(n * 1_000);
    let changes: Arc<Mutex<Vec<(u128, EventTime)>>> = Arc::default();
    let mut graph = OperatorGraph::new().with_idle_timeout(Duration::from_millis(100));
    // `busy` keeps event time in step with (paused) time: one item and watermark every 10 ms.
    let busy = graph.add_source(
        "busy",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<i64>| async move {
            for step in 1..=200 {
                ctx.output.send(step).await?;
                ctx.output.advance_watermark(ms(step * 10));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    // `quiet` speaks once at the start, is silent for a second, then comes back behind and
    // catches up: 60 ms of event time every 20 ms, from 500 ms at 1 s, so it passes the held
    // 1 s at 1.18 s (1 040 ms) and `busy` at about 1.25 s.
    let quiet = graph.add_source(
        "quiet",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<i64>| async move {
            ctx.output.advance_watermark(ms(5));
            ctx.output.send(5).await?;
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            for step in 0..25 {
                ctx.output.advance_watermark(ms(500 + 60 * step));
                ctx.output.send(500 + 60 * step).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ctx.output.advance_watermark(ms(5_000));
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let log = Arc::clone(&changes);
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<i64>| {
            let log = Arc::clone(&log);
            async move {
                let start = tokio::time::Instant::now();
                while let Some(event) = ctx.input.recv_event().await {
                    if let InputEvent::Watermark(w) = event {
                        log.lock().unwrap().push((start.elapsed().as_millis(), w));
                    }
                }
                Ok(())
            }
        },
    );
    graph.connect(&busy, &sink).connect(&quiet, &sink);
    let built = graph.build().unwrap();
    let (stop, monitor) = (built.shutdown_handle(), built.monitor());
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    let idle = |name: &str| {
        monitor
            .snapshot()
            .edges
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .idle
    };

    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!idle("quiet->sink"));
    tokio::time::sleep(Duration::from_millis(550)).await; // 600 ms: quiet has been silent long
    assert!(idle("quiet->sink"));
    assert!(!idle("busy->sink"));
    tokio::time::sleep(Duration::from_millis(600)).await; // 1.2 s: quiet spoke again at 1 s
    assert!(!idle("quiet->sink"));
    tokio::time::sleep(Duration::from_millis(800)).await; // 2 s
    stop.shutdown();
    assert!(running.await.unwrap().is_clean());

    let changes = changes.lock().unwrap().clone();
    assert!(
        changes.windows(2).all(|w| w[0].1 < w[1].1),
        "monotone: {changes:?}"
    );
    // Held at `quiet`'s 5 ms until `quiet` is idle: between one and two idle timeouts.
    assert_eq!(changes[0].1, ms(5));
    let first_jump = changes.iter().find(|(_, w)| *w > ms(5)).unwrap();
    assert!(
        (100..=210).contains(&first_jump.0),
        "left out at {} ms",
        first_jump.0
    );
    // While idle, it follows `busy`.
    let at_900 = changes.iter().rev().find(|(at, _)| *at <= 900).unwrap();
    assert!(at_900.1 >= ms(850), "{at_900:?}");
    // Back at 1 s with 500 ms: the watermark holds (never back) until `quiet` passes it, and
    // then follows `quiet`, the minimum, until `quiet` passes `busy`.
    assert!(
        !changes.iter().any(|(at, _)| (1_010..1_180).contains(at)),
        "held while the rejoined input is behind: {changes:?}"
    );
    let after = changes.iter().find(|(at, _)| *at >= 1_180).unwrap();
    assert_eq!(*after, (1_180, ms(1_040)));
}

/// What a sink saw: each item with the input watermark at the time.
type SeenBySink = Arc<Mutex<Vec<(String, Option<EventTime>)>>>;

/// An operator that advances its own watermark takes over: downstream sees its watermarks, not
/// its input's; an operator that does not, forwards its input's.
#[tokio::test]
async fn an_operator_that_advances_its_own_watermark_takes_over() {
    let seen: SeenBySink = Arc::default();
    let mut graph = OperatorGraph::new();
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u32>| async move {
            ctx.output
                .advance_watermark(EventTime::from_unix_micros(100));
            ctx.output.send(1).await?;
            assert!(
                !ctx.output
                    .advance_watermark(EventTime::from_unix_micros(50)),
                "never back"
            );
            Ok(())
        },
    );
    let windows = graph.add_operator(
        "windows",
        RestartPolicy::Never,
        |mut ctx: OperatorContext<u32, u32>| async move {
            ctx.output.take_over_watermark();
            while let Some(n) = ctx.input.recv().await {
                // Its own notion of time: what it has emitted results up to.
                ctx.output.advance_watermark(EventTime::from_unix_micros(7));
                ctx.output.send(n).await?;
            }
            Ok(())
        },
    );
    let relay = graph.add_operator(
        "relay",
        RestartPolicy::Never,
        |mut ctx: OperatorContext<u32, u32>| async move {
            while let Some(n) = ctx.input.recv().await {
                ctx.output.send(n).await?;
            }
            Ok(())
        },
    );
    let record = |name: &'static str| {
        let seen = Arc::clone(&seen);
        move |mut ctx: SinkContext<u32>| {
            let seen = Arc::clone(&seen);
            async move {
                while ctx.input.recv().await.is_some() {
                    seen.lock()
                        .unwrap()
                        .push((name.to_owned(), ctx.input.watermark()));
                }
                Ok(())
            }
        }
    };
    let after_windows = graph.add_sink(
        "after_windows",
        RestartPolicy::Never,
        record("after_windows"),
    );
    let after_relay = graph.add_sink("after_relay", RestartPolicy::Never, record("after_relay"));
    graph
        .connect(&source, &windows)
        .connect(&source, &relay)
        .connect(&windows, &after_windows)
        .connect(&relay, &after_relay);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "after_relay".to_owned(),
                Some(EventTime::from_unix_micros(100))
            ),
            (
                "after_windows".to_owned(),
                Some(EventTime::from_unix_micros(7))
            ),
        ]
    );
    // Each edge shows the latest watermark put on it, and how far behind the wall clock it is.
    let edges = monitor.snapshot().edges;
    let edge = edges
        .iter()
        .find(|e| e.name == "windows->after_windows")
        .unwrap();
    assert_eq!(edge.watermark_unix_micros, Some(7));
    assert!(
        edge.watermark_lag_seconds.unwrap() > 1e9,
        "1970 is long ago"
    );
}

/// `GET /edges` shows each edge's watermark and its lag behind the wall clock.
#[cfg(feature = "http")]
#[tokio::test]
async fn the_edges_route_shows_watermarks() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let mut graph = OperatorGraph::new();
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u8>| async move {
            ctx.output.advance_watermark(EventTime::now());
            ctx.output.send(1).await?;
            Ok(())
        },
    );
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        |mut ctx: SinkContext<u8>| async move {
            while ctx.input.recv().await.is_some() {}
            Ok(())
        },
    );
    graph.connect(&source, &sink);
    let built = graph.build().unwrap();
    let router =
        sda_orchestrator::http::app(sda_orchestrator::http::ControlPlane::for_graph(&built));
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    let response = router
        .oneshot(
            axum::http::Request::get("/edges")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let edge = &json["edges"][0];
    assert!(edge["watermark_unix_micros"].as_i64().unwrap() > 0);
    let lag = edge["watermark_lag_seconds"].as_f64().unwrap();
    assert!((0.0..60.0).contains(&lag), "{lag}");
    assert_eq!(edge["idle"], false);
}
