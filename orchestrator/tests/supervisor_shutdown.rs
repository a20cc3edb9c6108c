//! Shutdown drains every queued item; a stuck operator is aborted at the deadline and named.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{collect, store, taken};
use sda_orchestrator::{
    EdgeOptions, OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SupervisorEvent,
    SupervisorPolicy,
};

/// A source that counts up until shutdown, recording how many items it handed over.
fn endless(sent: Arc<AtomicU64>) -> impl sda_orchestrator::SourceFactory<u64> {
    move |mut ctx: sda_orchestrator::SourceContext<u64>| {
        let sent = sent.clone();
        async move {
            let mut n = 0;
            loop {
                tokio::select! {
                    biased;
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    result = ctx.output.send(n) => result?,
                }
                sent.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn items_queued_at_shutdown_all_reach_the_sink() {
    let sent = Arc::new(AtomicU64::new(0));
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("endless", RestartPolicy::default(), endless(sent.clone()));
    let slow = graph.add_operator(
        "slow",
        RestartPolicy::default(),
        |mut ctx: OperatorContext<u64, u64>| async move {
            while let Some(n) = ctx.input.recv().await {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ctx.output.send(n).await?;
            }
            Ok(())
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph
        .connect_with(&s, &slow, EdgeOptions::new().capacity(64))
        .connect_with(&slow, &k, EdgeOptions::new().capacity(64));
    let built = graph.build().unwrap();
    let stop = built.shutdown_handle();
    let monitor = built.monitor();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued: u64 = monitor.snapshot().edges.iter().map(|e| e.depth).sum();
    assert!(
        queued > 0,
        "the test needs items in flight when shutdown starts"
    );
    stop.shutdown();

    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    let got = taken(&out);
    assert_eq!(
        got.len() as u64,
        sent.load(Ordering::SeqCst),
        "every accepted item drained"
    );
    assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_operator_is_aborted_at_the_deadline_and_named() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("endless", RestartPolicy::default(), endless(Arc::default()));
    // Ignores its input closing: it never finishes on its own.
    let stuck = graph.add_operator(
        "stuck",
        RestartPolicy::default(),
        |_ctx: OperatorContext<u64, u64>| async {
            std::future::pending::<()>().await;
            Ok(())
        },
    );
    let k = graph.add_sink(
        "archive",
        RestartPolicy::Never,
        |mut ctx: SinkContext<u64>| async move {
            while ctx.input.recv().await.is_some() {}
            Ok(())
        },
    );
    graph.connect(&s, &stuck).connect(&stuck, &k);
    let built = graph.build().unwrap();
    let stop = built.shutdown_handle();
    let running = tokio::spawn(
        built.run(SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(5))),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = tokio::time::Instant::now();
    stop.shutdown();
    let outcome = running.await.unwrap();
    assert_eq!(
        outcome,
        SupervisorEvent::DeadlineExceeded {
            aborted: vec!["stuck".into(), "archive".into()]
        }
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "aborted exactly at the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_source_that_ignores_shutdown_is_named_too() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("deaf", RestartPolicy::default(), |mut ctx| async move {
        loop {
            ctx.output.send(1u8).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    built.shutdown_handle().shutdown();
    let outcome = built
        .run(SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(1)))
        .await;
    assert_eq!(
        outcome,
        SupervisorEvent::DeadlineExceeded {
            aborted: vec!["deaf".into(), "collect".into()]
        }
    );
}
