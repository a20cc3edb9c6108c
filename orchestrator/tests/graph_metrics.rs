//! Operators and edges publish the documented metrics through the `metrics` facade.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{collect, run_to_completion, send_all, store};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sda_orchestrator::monitor::metric_names;
use sda_orchestrator::{EdgeOptions, OperatorContext, OperatorGraph, RestartPolicy};

/// The value of `name` whose single label equals `label`, from a snapshot.
fn value(
    snapshot: &[(
        metrics_util::CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    name: &str,
    label: (&str, &str),
) -> Option<f64> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let matches = key.name() == name
            && key
                .labels()
                .any(|l| l.key() == label.0 && l.value() == label.1);
        matches.then(|| match value {
            DebugValue::Counter(v) => *v as f64,
            DebugValue::Gauge(v) => v.into_inner(),
            DebugValue::Histogram(v) => v.len() as f64,
        })
    })
}

#[tokio::test(start_paused = true)]
async fn operator_and_edge_metrics_are_published() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let starts = Arc::new(AtomicU32::new(0));
    let counted = starts.clone();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..500u32).collect()),
    );
    let flaky = graph.add_operator(
        "flaky",
        RestartPolicy::bounded(2, std::time::Duration::from_secs(60)),
        move |mut ctx: OperatorContext<u32, u32>| {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    anyhow::bail!("first start fails");
                }
                while let Some(n) = ctx.input.recv().await {
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph
        .connect_with(&s, &flaky, EdgeOptions::new().capacity(32))
        .connect(&flaky, &k);
    run_to_completion(graph).await;

    let snapshot = snapshotter.snapshot().into_vec();
    let op = |name: &str, operator: &str| value(&snapshot, name, ("operator", operator));
    let edge = |name: &str, edge: &str| value(&snapshot, name, ("edge", edge));
    assert_eq!(op(metric_names::OPERATOR_RESTART_TOTAL, "flaky"), Some(1.0));
    assert_eq!(
        op(metric_names::OPERATOR_RESTART_TOTAL, "numbers"),
        Some(0.0)
    );
    assert_eq!(
        op(metric_names::OPERATOR_RECEIVED_TOTAL, "flaky"),
        Some(500.0)
    );
    assert_eq!(op(metric_names::OPERATOR_SENT_TOTAL, "flaky"), Some(500.0));
    assert_eq!(
        op(metric_names::OPERATOR_SENT_TOTAL, "numbers"),
        Some(500.0)
    );
    assert_eq!(
        op(metric_names::OPERATOR_RECEIVED_TOTAL, "collect"),
        Some(500.0)
    );
    // Everything finished, so nothing is running.
    assert_eq!(
        op(metric_names::OPERATOR_UPTIME_SECONDS, "flaky"),
        Some(0.0)
    );
    assert_eq!(
        edge(metric_names::EDGE_CAPACITY, "numbers->flaky"),
        Some(32.0)
    );
    assert_eq!(
        edge(metric_names::EDGE_CAPACITY, "flaky->collect"),
        Some(1024.0)
    );
    assert_eq!(
        edge(metric_names::EDGE_QUEUE_DEPTH, "numbers->flaky"),
        Some(0.0)
    );
    assert!(
        edge(
            metric_names::EDGE_SEND_BLOCKED_SECONDS_TOTAL,
            "numbers->flaky"
        )
        .is_some()
    );
}
