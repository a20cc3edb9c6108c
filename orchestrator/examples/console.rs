//! Serves the control plane's operations console over a generated graph, to look at it in a
//! browser: `cargo run -p sda-orchestrator --features http --example console -- [VERTICES]
//! [SECONDS] [ADDR]` (default 100 vertices, 120 s, 127.0.0.1:9899; the token is `console`).
//!
//! The graph has ten sources, layers of operators (each taking from up to two vertices of the
//! layer before it) and ten sinks; every source sends a number every few milliseconds, and one
//! operator fails now and then so that restarts show. The first half of the sources advance an
//! event-time watermark (a little behind the wall clock, more for later sensors) and the others
//! do not, so that the console shows both watermark lags and edges with no watermark.

use std::time::Duration;

use sda_orchestrator::http::{ControlPlane, serve};
use sda_orchestrator::time::EventTime;
use sda_orchestrator::{
    OperatorContext, OperatorGraph, OperatorHandle, RestartPolicy, SinkContext, SourceContext,
    SourceHandle, SupervisorPolicy,
};

enum Upstream {
    Source(SourceHandle<u64>),
    Operator(OperatorHandle<u64, u64>),
}

fn connect(graph: &mut OperatorGraph, from: &Upstream, to: &OperatorHandle<u64, u64>) {
    match from {
        Upstream::Source(s) => graph.connect(s, to),
        Upstream::Operator(o) => graph.connect(o, to),
    };
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let vertices: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(120), |a| a.parse())?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9899".to_owned());
    let (sources, sinks) = (10, 10);
    let operators = vertices.saturating_sub(sources + sinks).max(1);

    let mut graph = OperatorGraph::new().with_default_capacity(256);
    let mut previous: Vec<Upstream> = (0..sources)
        .map(|i| {
            Upstream::Source(graph.add_source(
                format!("sensor_{i:02}"),
                RestartPolicy::default(),
                move |mut ctx: SourceContext<u64>| async move {
                    let mut n = 0;
                    let stamps = i < sources / 2;
                    let behind = Duration::from_millis(250 * i as u64);
                    loop {
                        tokio::select! {
                            () = ctx.shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(Duration::from_millis(2 + i as u64)) => {}
                        }
                        if stamps {
                            ctx.output
                                .advance_watermark(EventTime::now().saturating_sub(behind));
                        }
                        ctx.output.send(n).await?;
                        n += 1;
                    }
                },
            ))
        })
        .collect();
    let mut made = 0;
    let mut layer = 0;
    while made < operators {
        let width = (operators - made).min(10);
        let mut current = Vec::with_capacity(width);
        for j in 0..width {
            let flaky = made == operators / 2;
            let op = graph.add_operator(
                format!("stage{layer}_{j}"),
                RestartPolicy::Always,
                move |mut ctx: OperatorContext<u64, u64>| async move {
                    while let Some(n) = ctx.input.recv().await {
                        if flaky && n % 5000 == 4999 {
                            anyhow::bail!("item {n} could not be processed");
                        }
                        ctx.output.send(n).await?;
                    }
                    Ok(())
                },
            );
            connect(&mut graph, &previous[j % previous.len()], &op);
            if previous.len() > 1 {
                connect(&mut graph, &previous[(j + 1) % previous.len()], &op);
            }
            current.push(Upstream::Operator(op));
            made += 1;
        }
        previous = current;
        layer += 1;
    }
    for k in 0..sinks {
        let sink = graph.add_sink(
            format!("archive_{k:02}"),
            RestartPolicy::Never,
            |mut ctx: SinkContext<u64>| async move {
                while ctx.input.recv().await.is_some() {}
                Ok(())
            },
        );
        match &previous[k % previous.len()] {
            Upstream::Source(s) => graph.connect(s, &sink),
            Upstream::Operator(o) => graph.connect(o, &sink),
        };
    }
    // Every operator of the last layer needs an outgoing edge.
    let built = graph.build()?;
    let plane = ControlPlane::for_graph(&built).with_token("console");
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "console on http://{} (token `console`)",
        listener.local_addr()?
    );
    let stop = built.shutdown_handle();
    let token = stop.token();
    let server = tokio::spawn(serve(listener, plane, async move {
        token.cancelled().await;
    }));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.shutdown();
    });
    let outcome = built.run(SupervisorPolicy::default()).await;
    server.await??;
    println!("{outcome}");
    Ok(())
}
