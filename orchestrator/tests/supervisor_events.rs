//! One structured JSON event per supervisor decision, with the documented fields.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{collect, run_graph, send_all, store};
use sda_orchestrator::{
    OperatorContext, OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy,
};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn events(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

const DECISIONS: [&str; 9] = [
    "spawn",
    "restart",
    "clean_exit",
    "panicked",
    "budget_exhausted",
    "escalate",
    "aborted",
    "shutdown_started",
    "shutdown_complete",
];

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_decision_is_one_json_event_with_the_documented_fields() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // 1000 items flow, one operator fails twice with a budget of one restart.
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..1000u32).collect()),
    );
    let fails = graph.add_operator(
        "fails",
        RestartPolicy::bounded(1, std::time::Duration::from_secs(60)),
        |mut ctx: OperatorContext<u32, u32>| async move {
            for _ in 0..10 {
                let Some(n) = ctx.input.recv().await else {
                    break;
                };
                ctx.output.send(n).await?;
            }
            anyhow::bail!("checksum mismatch")
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &fails).connect(&fails, &k);
    let outcome = run_graph(graph).await;
    assert!(matches!(outcome, SupervisorEvent::BudgetExhausted { .. }));

    let events: Vec<Value> = captured
        .events()
        .into_iter()
        .filter(|e| e["target"] == "sda_orchestrator::supervisor")
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["fields"]["event"].as_str().unwrap())
        .collect();
    for kind in &kinds {
        assert!(DECISIONS.contains(kind), "undocumented event {kind}");
    }
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("spawn"), 3, "{kinds:?}");
    assert_eq!(count("restart"), 1, "{kinds:?}");
    assert_eq!(count("budget_exhausted"), 1, "{kinds:?}");
    assert_eq!(count("escalate"), 1, "{kinds:?}");
    assert_eq!(count("shutdown_complete"), 1, "{kinds:?}");
    // Decisions, not messages: a thousand items produce no events of their own.
    assert!(events.len() <= 12, "{kinds:?}");

    for event in &events {
        let fields = &event["fields"];
        let kind = fields["event"].as_str().unwrap();
        if matches!(
            kind,
            "spawn" | "restart" | "clean_exit" | "panicked" | "budget_exhausted" | "aborted"
        ) {
            for key in ["operator", "attempt", "restarts_in_window", "reason"] {
                assert!(!fields[key].is_null(), "{kind} lacks {key}: {event}");
            }
        }
    }
    let restart = events
        .iter()
        .find(|e| e["fields"]["event"] == "restart")
        .unwrap();
    assert_eq!(restart["fields"]["operator"], "fails");
    assert_eq!(restart["fields"]["attempt"], 1);
    assert_eq!(restart["fields"]["restarts_in_window"], 1);
    assert_eq!(restart["fields"]["reason"], "checksum mismatch");
    let exhausted = events
        .iter()
        .find(|e| e["fields"]["event"] == "budget_exhausted")
        .unwrap();
    assert_eq!(exhausted["fields"]["operator"], "fails");
    assert_eq!(exhausted["fields"]["restarts_in_window"], 1);
    assert_eq!(exhausted["level"], "ERROR");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_drained_shutdown_logs_start_and_completion() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "idle",
        RestartPolicy::default(),
        |ctx: sda_orchestrator::SourceContext<u8>| async move {
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    built.shutdown_handle().shutdown();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());

    let kinds: Vec<String> = captured
        .events()
        .iter()
        .filter(|e| e["target"] == "sda_orchestrator::supervisor")
        .map(|e| e["fields"]["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "spawn",
            "spawn",
            "shutdown_started",
            "clean_exit",
            "clean_exit",
            "shutdown_complete"
        ]
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_logged_decision_is_also_published_on_the_event_bus() {
    use sda_orchestrator::events::{EventKind, Received};

    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "idle",
        RestartPolicy::default(),
        |ctx: sda_orchestrator::SourceContext<u8>| async move {
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let bus = built.monitor().events().clone();
    let mut live = bus.subscribe();
    built.controls().pause("idle").unwrap();
    built.controls().resume("idle").unwrap();
    built.shutdown_handle().shutdown();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());

    let mut seen = Vec::new();
    while let Some(Received::Event(event)) = live.try_recv() {
        seen.push((event.id, event.event, event.operator.clone()));
    }
    let kinds: Vec<EventKind> = seen.iter().map(|(_, kind, _)| *kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Paused,
            EventKind::Resumed,
            EventKind::Spawn,
            EventKind::Spawn,
            EventKind::ShutdownStarted,
            EventKind::CleanExit,
            EventKind::CleanExit,
            EventKind::ShutdownComplete,
        ]
    );
    let ids: Vec<u64> = seen.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>());
    assert_eq!(seen[2].2.as_deref(), Some("idle"));
    assert_eq!(seen[7].2, None);
    assert_eq!(bus.recent().len(), 8);
}
