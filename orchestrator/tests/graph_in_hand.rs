//! What an operator holds when it fails: items it gives back are received again first by the
//! next incarnation; items it took and neither finished nor gave back are counted as dropped on
//! their edge, never lost silently; an operator that returns `Ok` finished what it held.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{collect, send_all, store, taken};
use sda_orchestrator::{OperatorContext, OperatorGraph, RestartPolicy, SupervisorPolicy};

fn quick_restarts() -> SupervisorPolicy {
    SupervisorPolicy::default().with_restart_backoff(Duration::ZERO, Duration::ZERO)
}

/// `numbers` (0..100 in one batch) -> `op` -> `out`, with `op` given; returns what `out` got
/// and the monitor's count of dropped items, and the edge `numbers->op`'s.
async fn run_with(
    op: impl FnMut(OperatorContext<u64, u64>) -> futures::future::BoxFuture<'static, anyhow::Result<()>>
    + Send
    + 'static,
) -> (Vec<u64>, u64, u64) {
    let mut graph = OperatorGraph::new();
    let numbers = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        |mut ctx: sda_orchestrator::SourceContext<u64>| async move {
            let mut batch: Vec<u64> = (0..100).collect();
            ctx.output.send_batch(&mut batch).await?;
            Ok(())
        },
    );
    let op = graph.add_operator("op", RestartPolicy::default(), op);
    let out = store();
    let sink = graph.add_sink("out", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&numbers, &op).connect(&op, &sink);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let outcome = built.run(quick_restarts()).await;
    assert!(outcome.is_clean(), "{outcome:?}");
    let edge = monitor
        .snapshot()
        .edges
        .into_iter()
        .find(|e| e.name == "numbers->op")
        .unwrap();
    (taken(&out), monitor.dropped_items(), edge.dropped)
}

#[tokio::test]
async fn a_batch_given_back_before_failing_is_received_again_first() {
    let failures = Arc::new(AtomicU32::new(0));
    let (out, dropped, _) = run_with(move |mut ctx| {
        let failures = failures.clone();
        Box::pin(async move {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 30).await > 0 {
                if failures.fetch_add(1, Ordering::SeqCst) < 2 {
                    ctx.input.give_back(std::mem::take(&mut batch));
                    anyhow::bail!("not now");
                }
                ctx.output.send_batch(&mut batch).await?;
            }
            Ok(())
        })
    })
    .await;
    assert_eq!(out, (0..100).collect::<Vec<_>>(), "in order, nothing lost");
    assert_eq!(dropped, 0);
}

#[tokio::test]
async fn the_tail_of_a_batch_given_back_comes_again_after_what_was_finished() {
    let failures = Arc::new(AtomicU32::new(0));
    let (out, dropped, _) = run_with(move |mut ctx| {
        let failures = failures.clone();
        Box::pin(async move {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 40).await > 0 {
                if failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Finish the first ten, give the rest back, fail.
                    let rest = batch.split_off(10);
                    ctx.output.send_batch(&mut batch).await?;
                    ctx.input.give_back(rest);
                    anyhow::bail!("half done");
                }
                ctx.output.send_batch(&mut batch).await?;
            }
            Ok(())
        })
    })
    .await;
    assert_eq!(out, (0..100).collect::<Vec<_>>());
    assert_eq!(dropped, 0);
}

#[tokio::test]
async fn items_taken_and_not_finished_by_a_failed_incarnation_are_counted_on_their_edge() {
    let failures = Arc::new(AtomicU32::new(0));
    let (out, dropped, edge_dropped) = run_with(move |mut ctx| {
        let failures = failures.clone();
        Box::pin(async move {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 30).await > 0 {
                if failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Fails holding thirty items, without giving them back.
                    anyhow::bail!("lost my batch");
                }
                ctx.output.send_batch(&mut batch).await?;
            }
            Ok(())
        })
    })
    .await;
    assert_eq!(out, (30..100).collect::<Vec<_>>());
    assert_eq!(dropped, 30, "the thirty are counted, not lost silently");
    assert_eq!(edge_dropped, 30);
}

#[tokio::test]
async fn an_operator_that_returns_ok_finished_what_it_held() {
    let (out, dropped, _) = run_with(|mut ctx| {
        Box::pin(async move {
            // Takes one item, uses it, and is done; the rest stays queued and is dropped
            // (counted) because the operator finished for good.
            if let Some(first) = ctx.input.recv().await {
                ctx.output.send(first).await?;
            }
            Ok(())
        })
    })
    .await;
    assert_eq!(out, [0]);
    assert_eq!(
        dropped, 99,
        "only what was still queued, not the item it finished"
    );
}

#[tokio::test(start_paused = true)]
async fn items_held_when_the_drain_deadline_aborts_are_counted() {
    let mut graph = OperatorGraph::new();
    let numbers = graph.add_source("numbers", RestartPolicy::Never, send_all((0..10).collect()));
    let stuck = graph.add_operator(
        "stuck",
        RestartPolicy::Never,
        |mut ctx: OperatorContext<u64, u64>| async move {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 4).await > 0 {
                // Never finishes its batch.
                std::future::pending::<()>().await;
            }
            Ok(())
        },
    );
    let sink = graph.add_sink("out", RestartPolicy::Never, collect(store::<u64>()));
    graph.connect(&numbers, &stuck).connect(&stuck, &sink);
    let built = graph.build().unwrap();
    let (monitor, stop) = (built.monitor(), built.shutdown_handle());
    let running = tokio::spawn(
        built.run(SupervisorPolicy::default().with_drain_deadline(Duration::from_secs(1))),
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    stop.shutdown();
    let outcome = running.await.unwrap();
    assert!(!outcome.is_clean(), "{outcome:?}");
    // Four held by the aborted incarnation, six still queued: all ten counted.
    assert_eq!(monitor.dropped_items(), 10);
}

#[tokio::test]
async fn an_incarnation_that_forwarded_what_it_took_before_failing_dropped_nothing() {
    let failures = Arc::new(AtomicU32::new(0));
    let (out, dropped, _) = run_with(move |mut ctx| {
        let failures = failures.clone();
        Box::pin(async move {
            while let Some(n) = ctx.input.recv().await {
                ctx.output.send(n).await?;
                if n == 41 && failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Its item is out: what it held is finished.
                    anyhow::bail!("after the send");
                }
            }
            Ok(())
        })
    })
    .await;
    assert_eq!(out, (0..100).collect::<Vec<_>>());
    assert_eq!(dropped, 0);
}

#[tokio::test]
async fn done_says_a_batch_was_finished_without_sending_anything() {
    let failures = Arc::new(AtomicU32::new(0));
    let (out, dropped, _) = run_with(move |mut ctx| {
        let failures = failures.clone();
        Box::pin(async move {
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 50).await > 0 {
                if failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    // A filter that keeps nothing of the first batch: finished, nothing to send.
                    batch.clear();
                    ctx.input.done();
                    anyhow::bail!("after a batch that needed no output");
                }
                ctx.output.send_batch(&mut batch).await?;
            }
            Ok(())
        })
    })
    .await;
    assert_eq!(out, (50..100).collect::<Vec<_>>());
    assert_eq!(dropped, 0);
}
