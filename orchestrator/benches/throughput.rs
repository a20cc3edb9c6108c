//! Throughput of a 10-stage linear pipeline (source, 8 relay operators, sink: 9 edges of
//! capacity 1024) through the orchestrator, against the same pipeline hand-wired with plain
//! tokio mpsc channels, measured in the same run. Both per message and in batches.
//!
//! Run: `cargo bench -p sda-orchestrator --bench throughput`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use sda_orchestrator::{
    OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SourceContext, SupervisorPolicy,
};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const ITEMS: u64 = 200_000;
const RELAYS: usize = 8;
const CAPACITY: usize = 1024;
const BATCH: usize = 256;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The baseline: tasks joined by plain bounded mpsc channels, one item at a time.
async fn hand_wired(batched: bool) -> u64 {
    let (tx, mut rx) = mpsc::channel::<u64>(CAPACITY);
    tokio::spawn(async move {
        if batched {
            let mut n = 0;
            while n < ITEMS {
                let count = (ITEMS - n).min(BATCH as u64);
                let permits = tx.reserve_many(count as usize).await.unwrap();
                for (permit, item) in permits.zip(n..n + count) {
                    permit.send(item);
                }
                n += count;
            }
        } else {
            for n in 0..ITEMS {
                tx.send(n).await.unwrap();
            }
        }
    });
    for _ in 0..RELAYS {
        let (next_tx, next_rx) = mpsc::channel::<u64>(CAPACITY);
        let mut input = std::mem::replace(&mut rx, next_rx);
        tokio::spawn(async move {
            if batched {
                let mut batch = Vec::with_capacity(BATCH);
                while input.recv_many(&mut batch, BATCH).await > 0 {
                    let permits = next_tx.reserve_many(batch.len()).await.unwrap();
                    for (permit, item) in permits.zip(batch.drain(..)) {
                        permit.send(item);
                    }
                }
            } else {
                while let Some(n) = input.recv().await {
                    next_tx.send(n).await.unwrap();
                }
            }
        });
    }
    // The sink is a spawned task too, like every vertex of the orchestrated graph, so both
    // sides run every stage on the runtime's workers.
    let sink = tokio::spawn(async move {
        let mut sum = 0;
        if batched {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                sum += batch.drain(..).sum::<u64>();
            }
        } else {
            while let Some(n) = rx.recv().await {
                sum += n;
            }
        }
        sum
    });
    sink.await.unwrap()
}

/// The same pipeline declared as an `OperatorGraph` and run under the supervisor.
async fn orchestrated(batched: bool) -> u64 {
    let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut graph = OperatorGraph::new();
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<u64>| async move {
            if batched {
                let mut batch = Vec::with_capacity(BATCH);
                for n in 0..ITEMS {
                    batch.push(n);
                    if batch.len() == BATCH {
                        ctx.output.send_batch(&mut batch).await?;
                    }
                }
                ctx.output.send_batch(&mut batch).await?;
            } else {
                for n in 0..ITEMS {
                    ctx.output.send(n).await?;
                }
            }
            Ok(())
        },
    );
    let mut previous = graph.add_operator("relay0", RestartPolicy::Never, move |ctx| {
        relay(ctx, batched)
    });
    graph.connect(&source, &previous);
    for i in 1..RELAYS {
        let next = graph.add_operator(format!("relay{i}"), RestartPolicy::Never, move |ctx| {
            relay(ctx, batched)
        });
        graph.connect(&previous, &next);
        previous = next;
    }
    let sum = total.clone();
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let sum = sum.clone();
            async move {
                let mut local = 0;
                if batched {
                    let mut batch = Vec::with_capacity(BATCH);
                    while ctx.input.recv_many(&mut batch, BATCH).await > 0 {
                        local += batch.drain(..).sum::<u64>();
                    }
                } else {
                    while let Some(n) = ctx.input.recv().await {
                        local += n;
                    }
                }
                sum.store(local, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        },
    );
    graph.connect(&previous, &sink);
    let outcome = graph
        .build()
        .unwrap()
        .run(SupervisorPolicy::default())
        .await;
    assert!(outcome.is_clean());
    total.load(std::sync::atomic::Ordering::Relaxed)
}

/// Batching in the item type: every edge carries `Vec<u64>` of up to `BATCH` items, so one
/// channel operation moves a whole batch.
async fn orchestrated_vec_batches() -> u64 {
    let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut graph = OperatorGraph::new();
    let source = graph.add_source(
        "source",
        RestartPolicy::Never,
        |mut ctx: SourceContext<Vec<u64>>| async move {
            let mut n = 0;
            while n < ITEMS {
                let end = (n + BATCH as u64).min(ITEMS);
                ctx.output.send((n..end).collect()).await?;
                n = end;
            }
            Ok(())
        },
    );
    let relay = |mut ctx: OperatorContext<Vec<u64>, Vec<u64>>| async move {
        while let Some(batch) = ctx.input.recv().await {
            ctx.output.send(batch).await?;
        }
        Ok(())
    };
    let mut previous = graph.add_operator("relay0", RestartPolicy::Never, relay);
    graph.connect(&source, &previous);
    for i in 1..RELAYS {
        let next = graph.add_operator(format!("relay{i}"), RestartPolicy::Never, relay);
        graph.connect(&previous, &next);
        previous = next;
    }
    let sum = total.clone();
    let sink = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<Vec<u64>>| {
            let sum = sum.clone();
            async move {
                let mut local = 0;
                while let Some(batch) = ctx.input.recv().await {
                    local += batch.iter().sum::<u64>();
                }
                sum.store(local, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        },
    );
    graph.connect(&previous, &sink);
    assert!(
        graph
            .build()
            .unwrap()
            .run(SupervisorPolicy::default())
            .await
            .is_clean()
    );
    total.load(std::sync::atomic::Ordering::Relaxed)
}

async fn relay(mut ctx: OperatorContext<u64, u64>, batched: bool) -> anyhow::Result<()> {
    if batched {
        let mut batch = Vec::with_capacity(BATCH);
        while ctx.input.recv_many(&mut batch, BATCH).await > 0 {
            ctx.output.send_batch(&mut batch).await?;
        }
    } else {
        while let Some(n) = ctx.input.recv().await {
            ctx.output.send(n).await?;
        }
    }
    Ok(())
}

fn bench_throughput(c: &mut Criterion) {
    let rt = runtime();
    let expected = ITEMS * (ITEMS - 1) / 2;
    let mut group = c.benchmark_group("pipeline_10_stages");
    group.throughput(Throughput::Elements(ITEMS));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    // (name, through the orchestrator, batched with recv_many/send_batch, Vec items)
    let variants: [(&str, bool, bool, bool); 5] = [
        ("hand_wired_per_message", false, false, false),
        ("orchestrator_per_message", true, false, false),
        ("hand_wired_batched", false, true, false),
        ("orchestrator_batched", true, true, false),
        ("orchestrator_vec_batches", true, true, true),
    ];
    for (name, through_orchestrator, batched, vec_items) in variants {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    let started = Instant::now();
                    let sum = rt.block_on(async {
                        if vec_items {
                            orchestrated_vec_batches().await
                        } else if through_orchestrator {
                            orchestrated(batched).await
                        } else {
                            hand_wired(batched).await
                        }
                    });
                    spent += started.elapsed();
                    assert_eq!(sum, expected);
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_throughput);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
