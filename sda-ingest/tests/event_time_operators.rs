//! Event time through the service's operators on the orchestrator, on paused time: `validate`
//! dead-letters a record whose window has closed (reason `late`) but not a re-send of a
//! delivered one; an idle input stops holding the watermark back; and the correlator fuses
//! and screens a window only once the watermark closes it.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_ingest::catalog::{ActiveCatalog, CatalogOrigin, SharedCatalog};
use sda_ingest::pipeline::operators::{
    Correlator, CorrelatorConfig, CorrelatorInput, Lateness, NamedConjunction, PropagatorRuntime,
    Windowing, correlator, validate,
};
use sda_ingest::pipeline::{Counters, FaultInjection, LATE, Origin, Parts, Routed};
use sda_ingest_core::process::event_time::EventTimeConfig;
use sda_ingest_core::process::validate::ValidationPolicy;
use sda_ingest_core::sim::scenario::{PLANTED_A, PLANTED_B, Scenario, ScenarioConfig};
use sda_ingest_core::{Measurement, Observation, SensorKind};
use sda_orchestrator::time::EventTime;
use sda_orchestrator::{
    OperatorGraph, RestartPolicy, SinkContext, SourceContext, SupervisorPolicy,
};

/// One-minute windows, open 30 s past their end.
const WINDOWS: EventTimeConfig = EventTimeConfig {
    window_s: 60.0,
    allowed_lateness_s: 30.0,
};

fn seconds(s: f64) -> EventTime {
    EventTime::from_unix_seconds_f64(s)
}

/// A valid ISL state taken at `epoch` (its position makes its content unique).
fn observation(seq: u32, epoch: f64) -> Routed {
    Routed::Accepted(
        Arc::new(Observation {
            id: format!("isl-1/{seq}"),
            sensor: "isl-1".into(),
            sensor_kind: SensorKind::Isl,
            object_hint: None,
            epoch,
            observer: None,
            measurement: Measurement::Position {
                x_m: 7.0e6 + f64::from(seq),
                y_m: 0.0,
                z_m: 0.0,
                velocity_mps: None,
            },
            quality: Default::default(),
            ingest: Default::default(),
        }),
        Origin::unplaced(),
    )
}

/// What came out of `validate`: `(id, reason code)`, the code `None` for an accepted record.
type Seen = Arc<Mutex<Vec<(String, Option<&'static str>)>>>;

/// `sources` → `validate` (with the lateness check over `parts`' dedup window) → a sink that
/// records what it gets; runs until every source is done.
async fn run_validate(
    graph: OperatorGraph,
    sources: Vec<sda_orchestrator::SourceHandle<Routed>>,
    lateness: Lateness,
    counters: Arc<Counters>,
) -> Vec<(String, Option<&'static str>)> {
    let mut graph = graph;
    let seen: Seen = Arc::default();
    let validate = graph.add_operator(
        "validate",
        RestartPolicy::Never,
        validate(
            ValidationPolicy::default(),
            Some(lateness),
            counters,
            FaultInjection::none(),
        ),
    );
    let store = seen.clone();
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<Routed>| {
            let store = store.clone();
            async move {
                while let Some(item) = ctx.input.recv().await {
                    let entry = match item {
                        Routed::Accepted(obs, _) => (obs.id.clone(), None),
                        Routed::DeadLetter(letter) => (
                            letter.id.clone().unwrap_or_default(),
                            Some(letter.reason_code),
                        ),
                    };
                    store.lock().unwrap().push(entry);
                }
                Ok(())
            }
        },
    );
    for source in &sources {
        graph.connect(source, &validate);
    }
    graph.connect(&validate, &sink);
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        graph.build().unwrap().run(SupervisorPolicy::default()),
    )
    .await
    .expect("the graph finishes");
    assert!(outcome.is_clean(), "{outcome:?}");
    seen.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn a_record_whose_window_closed_is_dead_lettered_late_but_a_resend_is_not() {
    let counters = Arc::new(Counters::default());
    let window = Parts::new_dedup_window();
    let lateness = Lateness {
        windows: WINDOWS,
        seen: window.clone(),
    };
    let mut graph = OperatorGraph::new();
    let source = graph.add_source(
        "isl",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<Routed>| {
            let window = window.clone();
            async move {
                ctx.output.advance_watermark(seconds(1_000.0));
                // [960, 1020) is open until the watermark reaches 1 050.
                let first = observation(1, 990.0);
                ctx.output.send(first.clone()).await?;
                // `dedup` delivers it: its window now remembers it.
                if let Routed::Accepted(obs, _) = &first {
                    window.with(|w| w.check(obs, Duration::ZERO));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                ctx.output.advance_watermark(seconds(1_100.0));
                // [960, 1020) has closed: a new record of it is late ...
                ctx.output.send(observation(2, 1_010.0)).await?;
                // ... a re-send of the delivered one goes on, for `dedup` to count ...
                ctx.output.send(first).await?;
                // ... and an out-of-order record of an open window, [1020, 1080), is in time.
                ctx.output.send(observation(3, 1_045.0)).await?;
                Ok(())
            }
        },
    );
    let seen = run_validate(graph, vec![source], lateness, counters.clone()).await;
    assert_eq!(
        seen,
        [
            ("isl-1/1".to_owned(), None),
            ("isl-1/2".to_owned(), Some(LATE)),
            ("isl-1/1".to_owned(), None),
            ("isl-1/3".to_owned(), None),
        ]
    );
    let source = counters.source(SensorKind::Isl);
    assert_eq!(source.late.load(Ordering::Relaxed), 1);
    // The late record passed validation's checks but is not counted as accepted.
    assert_eq!(source.accepted.load(Ordering::Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn an_idle_source_stops_holding_the_watermark_back() {
    let counters = Arc::new(Counters::default());
    let lateness = Lateness {
        windows: WINDOWS,
        seen: Parts::new_dedup_window(),
    };
    let mut graph = OperatorGraph::new().with_idle_timeout(Duration::from_millis(100));
    let busy = graph.add_source(
        "busy",
        RestartPolicy::Never,
        |mut ctx: SourceContext<Routed>| async move {
            ctx.output.advance_watermark(seconds(2_000.0));
            // `quiet` has not spoken yet: no watermark, nothing is late.
            ctx.output.send(observation(1, 1_000.0)).await?;
            // `busy` keeps speaking (its watermark creeps on); after the idle timeout `quiet`
            // no longer counts, and the watermark is `busy`'s, past 2 000.
            for step in 1..=25 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ctx.output
                    .advance_watermark(seconds(2_000.0 + f64::from(step) * 1e-3));
            }
            ctx.output.send(observation(2, 1_001.0)).await?;
            Ok(())
        },
    );
    let quiet = graph.add_source(
        "quiet",
        RestartPolicy::Never,
        |ctx: SourceContext<Routed>| async move {
            // Silent, but open, until `busy` has finished.
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(ctx);
            Ok(())
        },
    );
    let seen = run_validate(graph, vec![busy, quiet], lateness, counters).await;
    assert_eq!(
        seen,
        [
            ("isl-1/1".to_owned(), None),
            ("isl-1/2".to_owned(), Some(LATE)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_correlator_screens_a_window_only_once_the_watermark_closes_it() {
    let scenario = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let start = scenario.config.start_unix_s;
    // The second minute's observations, one window: screening then reaches an hour past it,
    // over the planted approach (an hour after the start).
    let first: Vec<_> = common::observations::delivered(&scenario)
        .into_iter()
        .filter(|d| (start + 60.0..start + 120.0).contains(&d.observation.epoch))
        .collect();
    assert!(!first.is_empty());
    let catalog = ActiveCatalog::from_generated(
        &scenario.catalog,
        scenario.propagators.clone(),
        CatalogOrigin::Simulator,
    );
    let settings = sda_ingest::app::CorrelatorSettings {
        jobs: 1,
        ..Default::default()
    };
    let config = CorrelatorConfig {
        windowing: Windowing::EventTime(WINDOWS),
        ..settings.for_window(start, scenario.config.duration_s)
    };
    let counters = Arc::new(Counters::default());
    let kernel = Correlator::new(
        PropagatorRuntime::Inline,
        SharedCatalog::new(catalog),
        config,
        counters.clone(),
    );
    let alerts: Arc<Mutex<Vec<NamedConjunction>>> = Arc::default();
    // How many alerts had arrived while the window was still open.
    let while_open = Arc::new(Mutex::new(None));
    let mut graph = OperatorGraph::new();
    let (seen, open_count) = (alerts.clone(), while_open.clone());
    let source = graph.add_source(
        "observations",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<CorrelatorInput>| {
            let (first, seen, open_count) = (first.clone(), seen.clone(), open_count.clone());
            async move {
                for d in first {
                    ctx.output.send(CorrelatorInput::Observation(d)).await?;
                }
                // The window ends at start + 120 and closes at start + 150.
                ctx.output.advance_watermark(seconds(start + 149.0));
                tokio::time::sleep(Duration::from_secs(5)).await;
                *open_count.lock().unwrap() = Some(seen.lock().unwrap().len());
                ctx.output.advance_watermark(seconds(start + 150.0));
                // Poll (on paused time) until the alert is through, at most a minute.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while seen.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(())
            }
        },
    );
    let correlator = graph.add_operator(
        "correlator",
        RestartPolicy::Never,
        correlator(kernel, FaultInjection::none()),
    );
    let store = alerts.clone();
    let sink = graph.add_sink(
        "alerts",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<NamedConjunction>| {
            let store = store.clone();
            async move {
                while let Some(alert) = ctx.input.recv().await {
                    store.lock().unwrap().push(alert);
                }
                Ok(())
            }
        },
    );
    graph
        .connect(&source, &correlator)
        .connect(&correlator, &sink);
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        graph.build().unwrap().run(SupervisorPolicy::default()),
    )
    .await
    .expect("the graph finishes");
    assert!(outcome.is_clean(), "{outcome:?}");
    // One screening run, when the window closed.
    assert_eq!(counters.screenings.load(Ordering::Relaxed), 1);
    assert_eq!(
        *while_open.lock().unwrap(),
        Some(0),
        "nothing before the close"
    );
    let alerts = alerts.lock().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].conjunction.a, alerts[0].conjunction.b),
        (PLANTED_A, PLANTED_B)
    );
}
