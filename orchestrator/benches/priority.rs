//! Emergency against routine latency under saturation, measured from the moment each event is
//! created.
//!
//! 48 feeds (registered on a router) flood one processor with routine frames through a priority
//! edge of capacity 64 per lane; the processor busy-works 5 us per frame, so it is the bottleneck
//! and the routine lane stays full. An event generator creates emergencies at random feeds (two
//! per millisecond); each emergency is stamped when it is created, before the feed has a chance
//! to send it, so its latency includes any wait behind the feed's own routine traffic. A routine
//! frame is stamped when the feed makes it, just before its send. Latency ends when the
//! processor takes the frame (monotonic clock, `Instant`), recorded in HDR histograms.
//!
//! Three feeds, interleaved round by round:
//!
//! * **serial**: one loop per feed, which sends the emergencies that have arrived before each
//!   routine frame, so an emergency created while the feed waits for routine room waits too;
//! * **concurrent**: each feed sends its emergencies from a second loop on a clone of its
//!   outbox, joined with the routine loop, so an emergency never waits for the feed's own
//!   routine send;
//! * **no lanes**: the concurrent feed with the lanes off (every frame routine): the baseline.
//!
//! Run: `cargo bench -p sda-orchestrator --bench priority`; `SDA_BENCH_QUICK=1` for a short run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sda_orchestrator::{
    EdgeOptions, Lane, OperatorGraph, Outbox, RestartPolicy, SinkContext, SourceContext,
    SupervisorPolicy,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const CAPACITY: usize = 64;
const WORK: Duration = Duration::from_micros(5);
const EVENTS_PER_MS: usize = 2;

#[derive(Debug, Clone)]
struct Frame {
    emergency: bool,
    /// When the event or frame was created.
    created: Instant,
}

fn classify(frame: &Frame) -> Lane {
    if frame.emergency {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

fn no_lanes(_frame: &Frame) -> Lane {
    Lane::Routine
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Serial,
    Concurrent,
    Direct,
    NoLanes,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Serial => "serial feed, lanes on",
            Variant::Concurrent => "concurrent feed, lanes on",
            Variant::Direct => "direct, lanes on",
            Variant::NoLanes => "direct, lanes off",
        }
    }
}

struct Recorded {
    emergency: Histogram<u64>,
    routine: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// One feed: `frames` routine frames as fast as the edge takes them, and every emergency that
/// the generator hands it.
async fn feed(
    mut ctx: SourceContext<Frame>,
    frames: u32,
    mut events: mpsc::UnboundedReceiver<Instant>,
    outboxes: std::sync::mpsc::Sender<Outbox<Frame>>,
    variant: Variant,
) -> anyhow::Result<()> {
    let routine = || Frame {
        emergency: false,
        created: Instant::now(),
    };
    let emergency = |created| Frame {
        emergency: true,
        created,
    };
    if matches!(variant, Variant::Direct | Variant::NoLanes) {
        // The event source sends the emergencies itself, on its own thread, through a clone of
        // this feed's outbox; the feed sends routine frames only.
        let _ = outboxes.send(ctx.output.clone());
        drop(outboxes);
        for _ in 0..frames {
            ctx.output.send(routine()).await?;
        }
        return Ok(());
    }
    drop(outboxes);
    if variant == Variant::Serial {
        for _ in 0..frames {
            while let Ok(created) = events.try_recv() {
                ctx.output.send(emergency(created)).await?;
            }
            ctx.output.send(routine()).await?;
        }
        return Ok(());
    }
    let mut urgent = ctx.output.clone();
    let done = CancellationToken::new();
    let routine_loop = async {
        for _ in 0..frames {
            ctx.output.send(routine()).await?;
        }
        done.cancel();
        anyhow::Ok(())
    };
    let emergency_loop = async {
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(created) => urgent.send(emergency(created)).await?,
                    None => break,
                },
                () = done.cancelled() => break,
            }
        }
        anyhow::Ok(())
    };
    tokio::try_join!(routine_loop, emergency_loop)?;
    Ok(())
}

async fn run(variant: Variant, feeds: usize, frames: u32) -> Recorded {
    let recorded = Arc::new(Mutex::new(Recorded {
        emergency: histogram(),
        routine: histogram(),
    }));
    let mut graph = OperatorGraph::new();
    let (router, uplinks) = graph.add_router::<Frame>("uplinks", RestartPolicy::Never);
    let into = Arc::clone(&recorded);
    let processor = graph.add_sink(
        "processor",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<Frame>| {
            let into = Arc::clone(&into);
            async move {
                let (mut emergency, mut routine) = (histogram(), histogram());
                while let Some(frame) = ctx.input.recv().await {
                    let until = Instant::now() + WORK;
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    let latency = frame.created.elapsed().as_nanos() as u64;
                    let into = if frame.emergency {
                        &mut emergency
                    } else {
                        &mut routine
                    };
                    into.saturating_record(latency.max(1));
                }
                let mut recorded = into.lock().unwrap_or_else(|p| p.into_inner());
                recorded.emergency.add(&emergency).expect("same bounds");
                recorded.routine.add(&routine).expect("same bounds");
                Ok(())
            }
        },
    );
    let lanes: fn(&Frame) -> Lane = if variant == Variant::NoLanes {
        no_lanes
    } else {
        classify
    };
    graph.connect_with(
        &router,
        &processor,
        EdgeOptions::new().capacity(CAPACITY).priority(lanes),
    );
    let built = graph.build().expect("the benchmark's graph builds");
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    let mut inboxes = Vec::new();
    let (outboxes, direct) = std::sync::mpsc::channel::<Outbox<Frame>>();
    for index in 0..feeds {
        let (events, inbox) = mpsc::unbounded_channel();
        inboxes.push(events);
        let inbox = Arc::new(Mutex::new(Some(inbox)));
        let outboxes = outboxes.clone();
        uplinks
            .register(
                format!("uplink-{index}"),
                RestartPolicy::Never,
                move |ctx: SourceContext<Frame>| {
                    let inbox = inbox.lock().ok().and_then(|mut i| i.take());
                    let outboxes = outboxes.clone();
                    async move {
                        let Some(inbox) = inbox else {
                            anyhow::bail!("a feed of the benchmark started twice");
                        };
                        feed(ctx, frames, inbox, outboxes, variant).await
                    }
                },
            )
            .await
            .expect("the feed registers");
    }
    // The generator, an OS thread like the device that raises the events: emergencies at
    // random feeds while the feeds run.
    drop(outboxes);
    let direct_feeds = matches!(variant, Variant::Direct | Variant::NoLanes);
    let generator = std::thread::spawn(move || {
        let mut rng = fastrand::Rng::with_seed(0xE3E7);
        // With direct sends, the generator holds each feed's outbox clone.
        let mut clones: Vec<Outbox<Frame>> = if direct_feeds {
            (0..inboxes.len())
                .filter_map(|_| direct.recv().ok())
                .collect()
        } else {
            Vec::new()
        };
        let mut finished = 0;
        loop {
            std::thread::sleep(Duration::from_millis(1));
            for _ in 0..EVENTS_PER_MS {
                let target = rng.usize(0..inboxes.len());
                let created = Instant::now();
                if let Some(outbox) = clones.get_mut(target) {
                    let frame = Frame {
                        emergency: true,
                        created,
                    };
                    if futures::executor::block_on(outbox.send(frame)).is_err() {
                        finished += 1;
                    }
                } else {
                    let _ = inboxes[target].send(created);
                }
            }
            if inboxes.iter().all(|i| i.is_closed()) || finished > 0 {
                break;
            }
        }
    });
    drop(uplinks);
    let outcome = running.await.expect("the graph's task");
    assert!(outcome.is_clean(), "{outcome:?}");
    let _ = generator.join();
    Arc::try_unwrap(recorded)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .expect("the processor has finished")
}

fn us(nanos: u64) -> String {
    format!("{:.1} us", nanos as f64 / 1e3)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let quick = std::env::var_os("SDA_BENCH_QUICK").is_some_and(|v| v != "0");
    let (feeds, frames, rounds) = if quick {
        (24, 1_000, 3)
    } else {
        (48, 2_000, 5)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "priority: {feeds} feeds x {frames} routine frames, {EVENTS_PER_MS} emergencies/ms at random feeds, processor {WORK:?}/frame, capacity {CAPACITY} per lane, {rounds} rounds; load average at start {}",
        loadavg()
    );
    let variants = [
        Variant::Serial,
        Variant::Concurrent,
        Variant::Direct,
        Variant::NoLanes,
    ];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut totals: Vec<Recorded> = variants
        .iter()
        .map(|_| Recorded {
            emergency: histogram(),
            routine: histogram(),
        })
        .collect();
    for round in 1..=rounds {
        // The order rotates each round.
        for step in 0..variants.len() {
            let which = (step + round) % variants.len();
            let variant = variants[which];
            let r = runtime.block_on(run(variant, feeds, frames));
            let (e, o) = (&r.emergency, &r.routine);
            let ratio = o.value_at_quantile(0.99) as f64 / e.value_at_quantile(0.99).max(1) as f64;
            println!(
                "round {round} {:<27} emergency n={:<5} p50 {:>10} p99 {:>10} max {:>10} | routine n={:<6} p50 {:>10} p99 {:>10} | routine p99 / emergency p99 = {ratio:.1}x",
                variant.name(),
                e.len(),
                us(e.value_at_quantile(0.5)),
                us(e.value_at_quantile(0.99)),
                us(e.max()),
                o.len(),
                us(o.value_at_quantile(0.5)),
                us(o.value_at_quantile(0.99)),
            );
            ratios[which].push(ratio);
            totals[which].emergency.add(e).expect("same bounds");
            totals[which].routine.add(o).expect("same bounds");
        }
    }
    println!("all rounds together:");
    for (which, variant) in variants.iter().enumerate() {
        let (e, o) = (&totals[which].emergency, &totals[which].routine);
        let per_round = &mut ratios[which];
        per_round.sort_by(f64::total_cmp);
        println!(
            "{:<27} emergency p50 {:>10} p99 {:>10} | routine p50 {:>10} p99 {:>10} | routine p99 / emergency p99 = {:.1}x (per round {:.1} - {:.1}, median {:.1})",
            variant.name(),
            us(e.value_at_quantile(0.5)),
            us(e.value_at_quantile(0.99)),
            us(o.value_at_quantile(0.5)),
            us(o.value_at_quantile(0.99)),
            o.value_at_quantile(0.99) as f64 / e.value_at_quantile(0.99).max(1) as f64,
            per_round[0],
            per_round[per_round.len() - 1],
            per_round[per_round.len() / 2],
        );
    }
    println!("load average at end {}", loadavg());
}
