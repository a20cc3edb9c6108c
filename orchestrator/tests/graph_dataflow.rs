//! Items flow through linear chains, fan-in and fan-out exactly once and in order per source.

mod common;

use common::{collect, pass_through, run_to_completion, send_all, store, taken};
use sda_orchestrator::{EdgeOptions, OperatorContext, OperatorGraph, RestartPolicy};

#[tokio::test]
async fn a_linear_chain_delivers_every_item_once_in_order() {
    let mut graph = OperatorGraph::new();
    let out = store();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..10_000u64).collect()),
    );
    let a = graph.add_operator(
        "double",
        RestartPolicy::default(),
        |mut ctx: OperatorContext<u64, u64>| async move {
            while let Some(n) = ctx.input.recv().await {
                ctx.output.send(n * 2).await?;
            }
            Ok(())
        },
    );
    let b = graph.add_operator("relay", RestartPolicy::default(), pass_through::<u64>());
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    // A small capacity keeps the producers waiting on backpressure most of the time.
    graph
        .connect_with(&s, &a, EdgeOptions::new().capacity(4))
        .connect(&a, &b)
        .connect_with(&b, &k, EdgeOptions::new().capacity(1));
    let monitor = run_to_completion(graph).await;
    assert_eq!(
        taken(&out),
        (0..10_000u64).map(|n| n * 2).collect::<Vec<_>>()
    );
    let snapshot = monitor.snapshot();
    assert!(
        snapshot
            .edges
            .iter()
            .all(|e| e.depth == 0 && e.sent == 10_000)
    );
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test]
async fn fan_in_takes_every_item_from_three_sources_in_order_per_source() {
    let mut graph = OperatorGraph::new();
    let out = store();
    let merge = graph.add_operator(
        "merge",
        RestartPolicy::default(),
        pass_through::<(u8, u32)>(),
    );
    for id in 0..3u8 {
        let items = (0..2_000u32).map(|seq| (id, seq)).collect();
        let s = graph.add_source(
            format!("sensor{id}"),
            RestartPolicy::default(),
            send_all(items),
        );
        graph.connect_with(&s, &merge, EdgeOptions::new().capacity(16));
    }
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    graph.connect(&merge, &k);
    run_to_completion(graph).await;

    let got = taken(&out);
    assert_eq!(got.len(), 6_000);
    for id in 0..3u8 {
        let from_id: Vec<u32> = got
            .iter()
            .filter(|(s, _)| *s == id)
            .map(|(_, q)| *q)
            .collect();
        assert_eq!(
            from_id,
            (0..2_000).collect::<Vec<_>>(),
            "source {id} out of order or lossy"
        );
    }
    // Fair merging: no source is drained wholly before another starts.
    let first_of_last_source = got.iter().position(|(s, _)| *s == 2).unwrap();
    assert!(
        first_of_last_source < 2_000,
        "fan-in starved a source until {first_of_last_source}"
    );
}

#[tokio::test]
async fn fan_out_gives_every_consumer_every_item() {
    let mut graph = OperatorGraph::new();
    let (left, right) = (store(), store());
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..5_000u32).collect()),
    );
    let l = graph.add_sink("left", RestartPolicy::Never, collect(left.clone()));
    let r = graph.add_sink("right", RestartPolicy::Never, collect(right.clone()));
    graph
        .connect_with(&s, &l, EdgeOptions::new().capacity(2))
        .connect(&s, &r);
    run_to_completion(graph).await;
    assert_eq!(taken(&left), (0..5_000).collect::<Vec<_>>());
    assert_eq!(taken(&right), (0..5_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn batches_move_through_recv_many_and_send_batch() {
    let mut graph = OperatorGraph::new();
    let out = store();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..10_000u64).collect()),
    );
    let batcher = graph.add_operator(
        "batcher",
        RestartPolicy::default(),
        |mut ctx: OperatorContext<u64, u64>| async move {
            let mut batch = Vec::with_capacity(64);
            while ctx.input.recv_many(&mut batch, 64).await > 0 {
                assert!(batch.len() <= 64);
                ctx.output.send_batch(&mut batch).await?;
                assert!(batch.is_empty());
            }
            Ok(())
        },
    );
    let l = graph.add_sink("collect", RestartPolicy::Never, collect(out.clone()));
    let r = graph.add_sink("tap", RestartPolicy::Never, collect(store()));
    graph
        .connect_with(&s, &batcher, EdgeOptions::new().capacity(100))
        .connect_with(&batcher, &l, EdgeOptions::new().capacity(10))
        .connect(&batcher, &r);
    run_to_completion(graph).await;
    assert_eq!(taken(&out), (0..10_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_diamond_joins_both_branches() {
    let mut graph = OperatorGraph::new();
    let out = store();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..100u32).collect()),
    );
    let l = graph.add_operator("left", RestartPolicy::default(), pass_through::<u32>());
    let r = graph.add_operator("right", RestartPolicy::default(), pass_through::<u32>());
    let k = graph.add_sink("join", RestartPolicy::Never, collect(out.clone()));
    graph
        .connect(&s, &l)
        .connect(&s, &r)
        .connect(&l, &k)
        .connect(&r, &k);
    run_to_completion(graph).await;
    let mut got = taken(&out);
    got.sort_unstable();
    let expected: Vec<u32> = (0..100).flat_map(|n| [n, n]).collect();
    assert_eq!(got, expected);
}
