//! Priority lanes, lossy broadcast edges and routers as general graph features.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_orchestrator::graph::{FeedError, GraphErrorKind};
use sda_orchestrator::{
    EdgeOptions, Lane, OperatorGraph, RestartPolicy, SinkContext, SupervisorEvent, SupervisorPolicy,
};

fn odd_is_urgent(n: &u32) -> Lane {
    if n % 2 == 1 {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

#[test]
fn an_edge_cannot_be_both_priority_and_broadcast() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("s", RestartPolicy::Never, |_ctx| async { Ok(()) });
    let k = graph.add_sink("k", RestartPolicy::Never, |_ctx: SinkContext<u32>| async {
        Ok(())
    });
    graph.connect_with(
        &s,
        &k,
        EdgeOptions::new().broadcast(4).priority(odd_is_urgent),
    );
    let error = graph.build().unwrap_err();
    assert_eq!(
        error.errors()[0].kind(),
        &GraphErrorKind::ConflictingEdgeKinds {
            from: "s".into(),
            to: "k".into()
        }
    );
    assert!(
        error
            .to_string()
            .contains("edge `s -> k` is both priority and broadcast")
    );
}

/// Emergency lanes of all incoming edges go before any routine lane, fairly across edges.
#[tokio::test(start_paused = true)]
async fn emergency_lanes_of_every_edge_drain_before_routine_lanes() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut graph = OperatorGraph::new();
    let a = graph.add_source("a", RestartPolicy::Never, |mut ctx| async move {
        for n in [0u32, 2, 1, 4, 3] {
            ctx.output.send(n).await?;
        }
        Ok(())
    });
    let b = graph.add_source("b", RestartPolicy::Never, |mut ctx| async move {
        for n in [10u32, 11, 12, 13] {
            ctx.output.send(n).await?;
        }
        Ok(())
    });
    let record = seen.clone();
    let k = graph.add_sink(
        "k",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u32>| {
            let record = record.clone();
            async move {
                // Let both sources queue everything first.
                tokio::time::sleep(Duration::from_millis(10)).await;
                while let Some(n) = ctx.input.recv().await {
                    record.lock().unwrap().push(n);
                }
                Ok(())
            }
        },
    );
    graph
        .connect_with(
            &a,
            &k,
            EdgeOptions::new().capacity(8).priority(odd_is_urgent),
        )
        .connect_with(
            &b,
            &k,
            EdgeOptions::new().capacity(8).priority(odd_is_urgent),
        );
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert_eq!(
        built.run(SupervisorPolicy::default()).await,
        SupervisorEvent::CleanShutdown
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, [1, 11, 3, 13, 0, 10, 2, 12, 4]);
    let edges = monitor.snapshot().edges;
    assert_eq!(edges[0].kind, "priority");
    assert_eq!((edges[0].emergency, edges[1].emergency), (2, 2));
}

/// A broadcast edge never holds its producer back: a consumer that does not read at all
/// only makes it lag.
#[tokio::test(start_paused = true)]
async fn a_broadcast_edge_never_blocks_its_producer() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("s", RestartPolicy::Never, |mut ctx| async move {
        for n in 0..100u32 {
            ctx.output.send(n).await?;
        }
        Ok(())
    });
    let record = received.clone();
    let slow = graph.add_sink(
        "slow",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u32>| {
            let record = record.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                while let Some(n) = ctx.input.recv().await {
                    record.lock().unwrap().push(n);
                }
                Ok(())
            }
        },
    );
    graph.connect_with(&s, &slow, EdgeOptions::new().broadcast(8));
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    // The ring kept the 8 newest items; the 92 before them were missed, counted, and skipped.
    assert_eq!(*received.lock().unwrap(), (92..100).collect::<Vec<_>>());
    let edge = &monitor.snapshot().edges[0];
    assert_eq!(
        (edge.kind, edge.lagged, edge.blocked_seconds),
        ("broadcast", 92, 0.0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_router_rejects_duplicates_unknown_removals_and_late_registrations() {
    let mut graph = OperatorGraph::new();
    let (feeds, router) = graph.add_router::<u32>("feeds", RestartPolicy::Never);
    let k = graph.add_sink(
        "k",
        RestartPolicy::Never,
        |mut ctx: SinkContext<u32>| async move {
            while ctx.input.recv().await.is_some() {}
            Ok(())
        },
    );
    graph.connect(&feeds, &k);
    let built = graph.build().unwrap();
    let shutdown = built.shutdown_handle();
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    let forever = |mut ctx: sda_orchestrator::SourceContext<u32>| async move {
        ctx.shutdown.cancelled().await;
        ctx.output.send(7).await?;
        Ok(())
    };
    router
        .register("x", RestartPolicy::Never, forever)
        .await
        .unwrap();
    assert_eq!(
        router.register("x", RestartPolicy::Never, forever).await,
        Err(FeedError::DuplicateName("x".into()))
    );
    assert_eq!(
        router.remove("nope").await,
        Err(FeedError::UnknownFeed("nope".into()))
    );
    router.remove("x").await.unwrap();
    shutdown.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    assert_eq!(
        router.register("y", RestartPolicy::Never, forever).await,
        Err(FeedError::Closed)
    );
}

/// A feed that fails is restarted by its router within its budget; one that panics takes the
/// graph down naming the router, as any operator's panic would.
#[tokio::test(start_paused = true)]
async fn router_feeds_are_supervised() {
    let mut graph = OperatorGraph::new();
    let (feeds, router) = graph.add_router::<u32>("feeds", RestartPolicy::Never);
    let total = Arc::new(Mutex::new(0));
    let sum = total.clone();
    let k = graph.add_sink(
        "k",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u32>| {
            let sum = sum.clone();
            async move {
                while let Some(n) = ctx.input.recv().await {
                    *sum.lock().unwrap() += n;
                }
                Ok(())
            }
        },
    );
    graph.connect(&feeds, &k);
    let running = tokio::spawn(graph.build().unwrap().run(SupervisorPolicy::default()));
    router
        .register(
            "flaky",
            RestartPolicy::bounded(3, Duration::from_secs(60)),
            |mut ctx| async move {
                ctx.output.send(1).await?;
                if ctx.attempt() < 2 {
                    anyhow::bail!("link dropped");
                }
                Ok(())
            },
        )
        .await
        .unwrap();
    router
        .register("broken", RestartPolicy::Always, |_ctx| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            panic!("bad frame")
        })
        .await
        .unwrap();
    drop(router);
    match running.await.unwrap() {
        SupervisorEvent::Panicked { operator, message } => {
            assert_eq!(operator, "feeds");
            assert_eq!(message, "feed `feeds/broken` panicked: bad frame");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        *total.lock().unwrap(),
        3,
        "three incarnations of `flaky` each sent one"
    );
}
