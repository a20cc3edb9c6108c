//! Batches cross an edge as one unit (`send_batch` in, `recv_many` or `recv` out) with every
//! edge kind: exact counts, the order of each upstream kept, capacity counted in items, nothing
//! lost across a restart in the middle of a batch or at shutdown.

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{collect, run_to_completion, store, taken};
use sda_orchestrator::monitor::GraphMonitor;
use sda_orchestrator::{
    EdgeOptions, Lane, OperatorContext, OperatorGraph, RestartPolicy, SinkContext, SinkFactory,
    SourceContext, SourceFactory, SupervisorPolicy,
};
use tokio::sync::{Notify, mpsc};
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

const MINUTE: Duration = Duration::from_secs(60);

/// A source that sends `items` with `send_batch`, `size` at a time.
fn send_batches(items: Vec<u64>, size: usize) -> impl SourceFactory<u64> {
    move |mut ctx: SourceContext<u64>| {
        let items = items.clone();
        async move {
            for chunk in items.chunks(size) {
                let mut batch = chunk.to_vec();
                ctx.output.send_batch(&mut batch).await?;
                assert!(batch.is_empty(), "send_batch leaves the batch empty");
            }
            Ok(())
        }
    }
}

/// A sink that takes batches of up to `limit` with `recv_many` and keeps them, each batch's
/// size too.
fn collect_many(
    limit: usize,
    store: Arc<Mutex<Vec<u64>>>,
    sizes: Arc<Mutex<Vec<usize>>>,
) -> impl SinkFactory<u64> {
    move |mut ctx: SinkContext<u64>| {
        let (store, sizes) = (Arc::clone(&store), Arc::clone(&sizes));
        async move {
            let mut batch = Vec::new();
            loop {
                let n = ctx.input.recv_many(&mut batch, limit).await;
                if n == 0 {
                    break;
                }
                assert_eq!(n, batch.len());
                assert!(n <= limit);
                sizes.lock().unwrap().push(n);
                store.lock().unwrap().extend(batch.drain(..));
            }
            Ok(())
        }
    }
}

fn edge(monitor: &GraphMonitor, name: &str) -> sda_orchestrator::monitor::EdgeSnapshot {
    let snapshot = monitor.snapshot();
    let found = snapshot.edges.iter().find(|e| e.name == name).cloned();
    found.unwrap_or_else(|| panic!("no edge {name}"))
}

#[tokio::test]
async fn recv_takes_a_batch_apart_and_recv_many_takes_the_rest() {
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_batches((0..10).collect(), 10),
    );
    let sink_out = out.clone();
    let k = graph.add_sink(
        "mixed",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let out = sink_out.clone();
            async move {
                let mut batch = Vec::new();
                loop {
                    // One item, then up to three, in turn.
                    let Some(first) = ctx.input.recv().await else {
                        break;
                    };
                    out.lock().unwrap().push(first);
                    if ctx.input.recv_many(&mut batch, 3).await == 0 {
                        break;
                    }
                    out.lock().unwrap().extend(batch.drain(..));
                }
                Ok(())
            }
        },
    );
    graph.connect(&s, &k);
    let monitor = run_to_completion(graph).await;
    assert_eq!(taken(&out), (0..10).collect::<Vec<_>>());
    let e = edge(&monitor, "numbers->mixed");
    assert_eq!((e.sent, e.received, e.depth, e.dropped), (10, 10, 0, 0));
}

#[tokio::test]
async fn recv_many_hands_each_batch_over_as_it_was_sent() {
    // A gate holds the sink back until the source has queued everything, so that every batch
    // is in the queue when the sink takes it.
    let queued = Arc::new(Notify::new());
    let (signal, wait) = (queued.clone(), queued);
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let out = store();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::Never, move |mut ctx| {
        let signal = signal.clone();
        async move {
            for start in (0..1000u64).step_by(100) {
                let mut batch: Vec<u64> = (start..start + 100).collect();
                ctx.output.send_batch(&mut batch).await?;
            }
            signal.notify_one();
            Ok(())
        }
    });
    let (k_out, k_sizes) = (out.clone(), sizes.clone());
    let k = graph.add_sink(
        "whole",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let (out, sizes, wait) = (k_out.clone(), k_sizes.clone(), wait.clone());
            async move {
                wait.notified().await;
                let mut batch = Vec::new();
                while ctx.input.recv_many(&mut batch, 250).await > 0 {
                    sizes.lock().unwrap().push(batch.len());
                    out.lock().unwrap().extend(batch.drain(..));
                }
                Ok(())
            }
        },
    );
    graph.connect_with(&s, &k, EdgeOptions::new().capacity(1000));
    run_to_completion(graph).await;
    assert_eq!(taken(&out), (0..1000).collect::<Vec<_>>());
    // Each batch is handed over as it was sent (its Vec moved into the buffer), not gathered
    // with the next one, which would copy.
    assert_eq!(taken(&sizes), [100; 10]);
}

#[tokio::test]
async fn batches_fan_in_fairly_with_each_upstreams_order_kept() {
    let (out, sizes) = (store(), Arc::new(Mutex::new(Vec::new())));
    let mut graph = OperatorGraph::new();
    let k = graph.add_sink(
        "merge",
        RestartPolicy::Never,
        collect_many(5, out.clone(), sizes.clone()),
    );
    for i in 0..3u64 {
        let s = graph.add_source(
            format!("s{i}"),
            RestartPolicy::Never,
            send_batches((i * 1000..i * 1000 + 100).collect(), 7),
        );
        graph.connect_with(&s, &k, EdgeOptions::new().capacity(16));
    }
    let monitor = run_to_completion(graph).await;
    let got = taken(&out);
    assert_eq!(got.len(), 300);
    for i in 0..3u64 {
        let from_i: Vec<u64> = got.iter().copied().filter(|n| n / 1000 == i).collect();
        assert_eq!(from_i, (i * 1000..i * 1000 + 100).collect::<Vec<_>>());
        let e = edge(&monitor, &format!("s{i}->merge"));
        assert_eq!((e.sent, e.received, e.depth, e.dropped), (100, 100, 0, 0));
    }
    assert!(taken(&sizes).iter().all(|&n| (1..=5).contains(&n)));
}

#[tokio::test]
async fn batches_fan_out_whole_to_every_consumer() {
    let (one, many, few) = (store(), store(), store());
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_batches((0..200).collect(), 16),
    );
    let a = graph.add_sink("one", RestartPolicy::Never, collect(one.clone()));
    let b = graph.add_sink(
        "many",
        RestartPolicy::Never,
        collect_many(100, many.clone(), Arc::new(Mutex::new(Vec::new()))),
    );
    let c = graph.add_sink(
        "few",
        RestartPolicy::Never,
        collect_many(3, few.clone(), Arc::new(Mutex::new(Vec::new()))),
    );
    graph
        .connect_with(&s, &a, EdgeOptions::new().capacity(20))
        .connect_with(&s, &b, EdgeOptions::new().capacity(40))
        .connect_with(&s, &c, EdgeOptions::new().capacity(16));
    let monitor = run_to_completion(graph).await;
    for (sink, got) in [("one", &one), ("many", &many), ("few", &few)] {
        assert_eq!(taken(got), (0..200).collect::<Vec<_>>(), "{sink}");
        let e = edge(&monitor, &format!("numbers->{sink}"));
        assert_eq!((e.sent, e.received, e.depth, e.dropped), (200, 200, 0, 0));
    }
}

fn is_even(n: &u64) -> bool {
    n.is_multiple_of(2)
}

#[tokio::test]
async fn a_filtered_edge_carries_only_what_it_keeps_of_each_batch() {
    let (evens, all) = (store(), store());
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_batches((0..100).collect(), 10),
    );
    let e = graph.add_sink(
        "evens",
        RestartPolicy::Never,
        collect_many(64, evens.clone(), Arc::new(Mutex::new(Vec::new()))),
    );
    let a = graph.add_sink("all", RestartPolicy::Never, collect(all.clone()));
    graph
        .connect_with(&s, &e, EdgeOptions::new().capacity(8).filter(is_even))
        .connect_with(&s, &a, EdgeOptions::new().capacity(8));
    let monitor = run_to_completion(graph).await;
    assert_eq!(taken(&evens), (0..100).step_by(2).collect::<Vec<_>>());
    assert_eq!(taken(&all), (0..100).collect::<Vec<_>>());
    let kept = edge(&monitor, "numbers->evens");
    assert_eq!((kept.sent, kept.received, kept.filtered), (50, 50, 50));
    let every = edge(&monitor, "numbers->all");
    assert_eq!((every.sent, every.received, every.filtered), (100, 100, 0));
}

fn fives_are_urgent(n: &u64) -> Lane {
    if n.is_multiple_of(5) {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

#[tokio::test(start_paused = true)]
async fn a_priority_edge_splits_a_batch_by_lane_and_emergencies_come_first() {
    // Fires once every number is queued, so that the lanes alone decide the order.
    let queued = CancellationToken::new();
    let (one, many) = (store(), store());
    let mut graph = OperatorGraph::new();
    let signal = queued.clone();
    let s = graph.add_source("numbers", RestartPolicy::Never, move |mut ctx| {
        let signal = signal.clone();
        async move {
            for start in (0..50u64).step_by(10) {
                let mut batch: Vec<u64> = (start..start + 10).collect();
                ctx.output.send_batch(&mut batch).await?;
            }
            signal.cancel();
            Ok(())
        }
    });
    let gated = |out: Arc<Mutex<Vec<u64>>>, limit: Option<usize>| {
        let queued = queued.clone();
        move |mut ctx: SinkContext<u64>| {
            let (out, queued) = (out.clone(), queued.clone());
            async move {
                queued.cancelled().await;
                let mut batch = Vec::new();
                match limit {
                    None => {
                        while let Some(n) = ctx.input.recv().await {
                            out.lock().unwrap().push(n);
                        }
                    }
                    Some(limit) => {
                        while ctx.input.recv_many(&mut batch, limit).await > 0 {
                            // A batch never mixes the lanes.
                            let lanes: Vec<Lane> = batch.iter().map(fives_are_urgent).collect();
                            assert!(lanes.windows(2).all(|w| w[0] == w[1]), "{batch:?}");
                            out.lock().unwrap().extend(batch.drain(..));
                        }
                    }
                }
                Ok(())
            }
        }
    };
    let a = graph.add_sink("one", RestartPolicy::Never, gated(one.clone(), None));
    let b = graph.add_sink("many", RestartPolicy::Never, gated(many.clone(), Some(4)));
    graph
        .connect_with(
            &s,
            &a,
            EdgeOptions::new().capacity(64).priority(fives_are_urgent),
        )
        .connect_with(
            &s,
            &b,
            EdgeOptions::new().capacity(64).priority(fives_are_urgent),
        );
    let monitor = run_to_completion(graph).await;
    let urgent: Vec<u64> = (0..50).step_by(5).collect();
    let usual: Vec<u64> = (0..50).filter(|n| n % 5 != 0).collect();
    let expected: Vec<u64> = urgent.iter().chain(&usual).copied().collect();
    assert_eq!(taken(&one), expected);
    assert_eq!(taken(&many), expected);
    for sink in ["one", "many"] {
        let e = edge(&monitor, &format!("numbers->{sink}"));
        assert_eq!((e.sent, e.received, e.emergency), (50, 50, 10));
    }
}

#[tokio::test(start_paused = true)]
async fn an_emergency_in_a_batch_is_not_held_back_by_a_full_routine_lane() {
    let (progress, seen) = (Arc::new(AtomicUsize::new(0)), store());
    let go = Arc::new(Notify::new());
    let mut graph = OperatorGraph::new();
    let sent = progress.clone();
    let s = graph.add_source("numbers", RestartPolicy::Never, move |mut ctx| {
        let sent = sent.clone();
        async move {
            // Fills the routine lane (capacity 4).
            ctx.output.send_batch(&mut vec![1, 2, 3, 4]).await?;
            sent.store(1, Ordering::SeqCst);
            // An emergency and two routine items: the emergency goes first and gets in; the
            // routine part waits for room.
            ctx.output.send_batch(&mut vec![6, 5, 7]).await?;
            sent.store(2, Ordering::SeqCst);
            Ok(())
        }
    });
    let (out, gate) = (seen.clone(), go.clone());
    let k = graph.add_sink(
        "slow",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let (out, gate) = (out.clone(), gate.clone());
            async move {
                gate.notified().await;
                assert_eq!(ctx.input.emergency_len(), 1);
                assert_eq!(ctx.input.len(), 5);
                while let Some(n) = ctx.input.recv().await {
                    out.lock().unwrap().push(n);
                }
                Ok(())
            }
        },
    );
    graph.connect_with(
        &s,
        &k,
        EdgeOptions::new().capacity(4).priority(fives_are_urgent),
    );
    let built = graph.build().unwrap();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    sleep(Duration::from_millis(10)).await;
    assert_eq!(progress.load(Ordering::SeqCst), 1, "the routine part waits");
    go.notify_one();
    assert!(running.await.unwrap().is_clean());
    assert_eq!(progress.load(Ordering::SeqCst), 2);
    assert_eq!(taken(&seen), [5, 1, 2, 3, 4, 6, 7]);
}

/// What the gated sink of the backpressure test is told to take.
enum Take {
    One,
    Many(usize),
}

#[tokio::test(start_paused = true)]
async fn capacity_counts_items_whatever_the_batching() {
    let progress = Arc::new(AtomicUsize::new(0));
    let (commands, orders) = mpsc::unbounded_channel::<Take>();
    let orders = Arc::new(Mutex::new(Some(orders)));
    let taken_items = store();
    let mut graph = OperatorGraph::new();
    let sent = progress.clone();
    let s = graph.add_source("producer", RestartPolicy::Never, move |mut ctx| {
        let sent = sent.clone();
        async move {
            for size in [5u64, 3, 4] {
                let mut batch: Vec<u64> = (0..size).collect();
                ctx.output.send_batch(&mut batch).await?;
                sent.fetch_add(size as usize, Ordering::SeqCst);
            }
            ctx.output.send(99).await?;
            sent.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let out = taken_items.clone();
    let k = graph.add_sink(
        "gated",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let orders = orders.lock().unwrap().take();
            let out = out.clone();
            async move {
                let Some(mut orders) = orders else {
                    anyhow::bail!("started twice");
                };
                let mut batch = Vec::new();
                while let Some(order) = orders.recv().await {
                    match order {
                        Take::One => {
                            let item = ctx.input.recv().await;
                            out.lock().unwrap().extend(item);
                        }
                        Take::Many(limit) => {
                            ctx.input.recv_many(&mut batch, limit).await;
                            out.lock().unwrap().extend(batch.drain(..));
                        }
                    }
                }
                while let Some(n) = ctx.input.recv().await {
                    out.lock().unwrap().push(n);
                }
                Ok(())
            }
        },
    );
    graph.connect_with(&s, &k, EdgeOptions::new().capacity(8));
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    let settle = || sleep(Duration::from_millis(10));
    let depth = |m: &GraphMonitor| edge(m, "producer->gated").depth;

    settle().await;
    // 5 + 3 items fill the edge; the batch of 4 waits for room for all four.
    assert_eq!(progress.load(Ordering::SeqCst), 8);
    assert_eq!(depth(&monitor), 8);
    commands.send(Take::One).unwrap();
    settle().await;
    assert_eq!(
        progress.load(Ordering::SeqCst),
        8,
        "one free slot is not room for four"
    );
    commands.send(Take::Many(3)).unwrap();
    settle().await;
    assert_eq!(
        progress.load(Ordering::SeqCst),
        12,
        "four free slots let the batch in"
    );
    assert_eq!(depth(&monitor), 8);
    // The single item waits on a full edge too, and gets in once one item is taken.
    commands.send(Take::One).unwrap();
    settle().await;
    assert_eq!(progress.load(Ordering::SeqCst), 13);
    assert_eq!(depth(&monitor), 8);
    drop(commands);
    assert!(running.await.unwrap().is_clean());
    assert_eq!(
        taken(&taken_items),
        [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 99]
    );
    let e = edge(&monitor, "producer->gated");
    assert_eq!((e.sent, e.received, e.depth), (13, 13, 0));
    assert!(e.blocked_seconds > 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_batch_larger_than_the_capacity_crosses_in_pieces() {
    let (out, sizes) = (store(), Arc::new(Mutex::new(Vec::new())));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        send_batches((0..100).collect(), 100),
    );
    let k = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        collect_many(1000, out.clone(), sizes.clone()),
    );
    graph.connect_with(&s, &k, EdgeOptions::new().capacity(30));
    run_to_completion(graph).await;
    assert_eq!(taken(&out), (0..100).collect::<Vec<_>>());
    assert!(taken(&sizes).iter().all(|&n| n <= 30));
}

/// An operator whose first incarnation forwards the first `before_failing` items of what it
/// receives (taking them with `recv`, or with one `recv_many` when `many`) and then fails; the
/// next incarnation forwards everything.
fn fails_mid_batch(
    before_failing: usize,
    many: bool,
    queued: Arc<Notify>,
    remaining: Arc<Mutex<Vec<usize>>>,
) -> impl sda_orchestrator::OperatorFactory<u64, u64> {
    let starts = Arc::new(AtomicU32::new(0));
    move |mut ctx: OperatorContext<u64, u64>| {
        let first = starts.fetch_add(1, Ordering::SeqCst) == 0;
        let (queued, remaining) = (queued.clone(), remaining.clone());
        async move {
            if first {
                queued.notified().await;
                if many {
                    let mut batch = Vec::new();
                    ctx.input.recv_many(&mut batch, before_failing).await;
                    ctx.output.send_batch(&mut batch).await?;
                } else {
                    for _ in 0..before_failing {
                        if let Some(n) = ctx.input.recv().await {
                            ctx.output.send(n).await?;
                        }
                    }
                }
                anyhow::bail!("lost the database connection mid-batch");
            }
            remaining.lock().unwrap().push(ctx.input.len());
            let mut batch = Vec::new();
            while ctx.input.recv_many(&mut batch, 64).await > 0 {
                ctx.output.send_batch(&mut batch).await?;
            }
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_of_a_batch_loses_nothing_queued() {
    for many in [false, true] {
        let queued = Arc::new(Notify::new());
        let (out, remaining) = (store(), Arc::new(Mutex::new(Vec::new())));
        let mut graph = OperatorGraph::new();
        let signal = queued.clone();
        let s = graph.add_source("numbers", RestartPolicy::Never, move |mut ctx| {
            let signal = signal.clone();
            async move {
                ctx.output.send_batch(&mut (0..10u64).collect()).await?;
                signal.notify_one();
                Ok(())
            }
        });
        let op = graph.add_operator(
            "fails_once",
            RestartPolicy::bounded(1, MINUTE),
            fails_mid_batch(3, many, queued, remaining.clone()),
        );
        let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
        graph
            .connect_with(&s, &op, EdgeOptions::new().capacity(16))
            .connect(&op, &k);
        let built = graph.build().unwrap();
        let monitor = built.monitor();
        assert!(built.run(SupervisorPolicy::default()).await.is_clean());
        // The failed incarnation took three items of the batch; the other seven were still
        // queued for its replacement.
        assert_eq!(taken(&remaining), [7], "many: {many}");
        assert_eq!(taken(&out), (0..10).collect::<Vec<_>>(), "many: {many}");
        assert_eq!(monitor.total_restarts(), 1);
        assert_eq!(monitor.dropped_items(), 0);
        let e = edge(&monitor, "numbers->fails_once");
        assert_eq!((e.sent, e.received, e.depth), (10, 10, 0));
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_every_batch_sent() {
    let (out, sizes) = (store(), Arc::new(Mutex::new(Vec::new())));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "ticker",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            let mut next = 0u64;
            while !ctx.shutdown.is_cancelled() {
                let mut batch: Vec<u64> = (next..next + 32).collect();
                next += 32;
                ctx.output.send_batch(&mut batch).await?;
                sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        },
    );
    let (k_out, k_sizes) = (out.clone(), sizes.clone());
    let k = graph.add_sink(
        "slow",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let (out, sizes) = (k_out.clone(), k_sizes.clone());
            async move {
                let mut batch = Vec::new();
                while ctx.input.recv_many(&mut batch, 16).await > 0 {
                    sizes.lock().unwrap().push(batch.len());
                    out.lock().unwrap().extend(batch.drain(..));
                    sleep(Duration::from_millis(3)).await;
                }
                Ok(())
            }
        },
    );
    graph.connect_with(&s, &k, EdgeOptions::new().capacity(256));
    let built = graph.build().unwrap();
    let (monitor, shutdown) = (built.monitor(), built.shutdown_handle());
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    sleep(Duration::from_millis(50)).await;
    shutdown.shutdown();
    assert!(running.await.unwrap().is_clean());
    let e = edge(&monitor, "ticker->slow");
    let got = taken(&out);
    assert!(e.sent > 32);
    assert_eq!(got, (0..e.sent).collect::<Vec<_>>());
    assert_eq!((e.received, e.depth, e.dropped), (e.sent, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn recv_many_and_recv_are_cancel_safe_in_a_select() {
    let out = store();
    let timeouts = Arc::new(AtomicUsize::new(0));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "slow",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            for start in (0..60u64).step_by(6) {
                sleep(Duration::from_millis(5)).await;
                ctx.output
                    .send_batch(&mut (start..start + 6).collect())
                    .await?;
            }
            Ok(())
        },
    );
    let (k_out, k_timeouts) = (out.clone(), timeouts.clone());
    let k = graph.add_sink("impatient", RestartPolicy::Never, move |mut ctx: SinkContext<u64>| {
        let (out, timeouts) = (k_out.clone(), k_timeouts.clone());
        async move {
            let mut batch = vec![1000];
            let mut take_one = false;
            let tick = || sleep(Duration::from_millis(1));
            loop {
                take_one = !take_one;
                if take_one {
                    tokio::select! {
                        n = ctx.input.recv() => match n {
                            Some(n) => out.lock().unwrap().push(n),
                            None => break,
                        },
                        () = tick() => {
                            timeouts.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                } else {
                    tokio::select! {
                        n = ctx.input.recv_many(&mut batch, 4) => {
                            if n == 0 {
                                break;
                            }
                            // Appended after what the buffer already held.
                            assert_eq!(batch[0], 1000);
                            out.lock().unwrap().extend(batch.drain(1..));
                        }
                        () = tick() => {
                            timeouts.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(batch, [1000], "a cancelled recv_many leaves the buffer alone");
                        }
                    }
                }
            }
            Ok(())
        }
    });
    graph.connect(&s, &k);
    run_to_completion(graph).await;
    assert_eq!(taken(&out), (0..60).collect::<Vec<_>>());
    assert!(timeouts.load(Ordering::SeqCst) > 10);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_edge_gets_its_room_back_while_its_consumer_is_busy_elsewhere() {
    // `busy` fills its edge before the sink starts, so the sink always has something to take
    // from it; `quiet` sends one item per millisecond on an edge of capacity 2. Each of its
    // items must be taken promptly and its room given back, though the sink never waits for
    // input.
    let filled = Arc::new(Notify::new());
    let order = store();
    let mut graph = OperatorGraph::new();
    let signal = filled.clone();
    let busy = graph.add_source("busy", RestartPolicy::Never, move |mut ctx| {
        let signal = signal.clone();
        async move {
            ctx.output
                .send_batch(&mut (1000..11_000u64).collect())
                .await?;
            signal.notify_one();
            Ok(())
        }
    });
    let quiet = graph.add_source(
        "quiet",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            for n in 0..6u64 {
                // The sink is running by then and takes each item before the next is sent.
                sleep(Duration::from_millis(1)).await;
                ctx.output.send(n).await?;
            }
            Ok(())
        },
    );
    let out = order.clone();
    let k = graph.add_sink(
        "sink",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let (out, filled) = (out.clone(), filled.clone());
            async move {
                filled.notified().await;
                while let Some(n) = ctx.input.recv().await {
                    out.lock().unwrap().push(n);
                    sleep(Duration::from_micros(10)).await;
                }
                Ok(())
            }
        },
    );
    graph
        .connect_with(&busy, &k, EdgeOptions::new().capacity(10_000))
        .connect_with(&quiet, &k, EdgeOptions::new().capacity(2));
    run_to_completion(graph).await;
    let got = taken(&order);
    assert_eq!(got.len(), 10_006);
    let last_quiet = got.iter().rposition(|&n| n < 1000).unwrap();
    // Six items a millisecond apart, while the sink takes one item per 10 us: they are all in
    // well before the busy edge runs dry (10 000 items, 100 ms).
    assert!(
        last_quiet < 2_000,
        "the quiet edge's last item came at {last_quiet}"
    );
}
