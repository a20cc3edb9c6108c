//! The throughput baseline: the same ingest pipeline hand-wired with plain tokio mpsc channels
//! (capacity 1024, and `CORRELATOR_QUEUE` into the correlator, like the orchestrator's edges)
//! and `tokio::spawn`, running the very same stage kernels as the operators — the paced replay,
//! `Normalizer`, `Validator`, `dedup_batch`, the correlator's `associate_batch`,
//! `screen_catalog` and `CorrelatorState` on the same PropagatorPool, and `JsonlFile` — so that
//! it differs from the orchestrated pipeline only in its channel plumbing: no supervisor, no
//! restart handling, no edge metrics and no filters (each stage sends accepted records and dead
//! letters straight to the right channel).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use sda_ingest::pipeline::operators::{
    BATCH, CORRELATOR_BATCH, ConjunctionAlert, Correlator, CorrelatorConfig, Normalizer,
    PropagatorRuntime, Validator, dedup_batch,
};
use sda_ingest::pipeline::sinks::{self, DeadLetterWriter, JsonlSpec, JsonlWriter};
use sda_ingest::pipeline::{CORRELATOR_QUEUE, Counters, Delivered, RawFrame, Routed, unix_now};
use sda_ingest::simulator::pacing::TICK;
use sda_ingest::simulator::replay::MAX_BATCH;
use sda_ingest::simulator::{Pacing, Replay, SimStream};
use sda_ingest_core::SensorKind;
use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator};
use sda_ingest_core::sensors::SensorRegistry;
use sda_ingest_core::sim::scenario::Streams;
use sda_orchestrator::time::EventTime;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const CAPACITY: usize = sda_orchestrator::graph::DEFAULT_EDGE_CAPACITY;

/// Everything the hand-wired pipeline needs.
pub(crate) struct Wiring {
    pub(crate) streams: Arc<Streams>,
    pub(crate) pacing: Pacing,
    pub(crate) registry: Arc<SensorRegistry>,
    pub(crate) catalog: sda_ingest::catalog::SharedCatalog,
    /// Where the correlator propagates ([`PropagatorRuntime::Skip`]: it drains its input).
    pub(crate) propagator: PropagatorRuntime,
    pub(crate) correlator: CorrelatorConfig,
    pub(crate) out_dir: std::path::PathBuf,
    pub(crate) counters: Arc<Counters>,
}

/// Runs the hand-wired pipeline until the sources finish (or `limit`, then a drain) and every
/// stage has drained; returns the process CPU time used from the end of set-up (the
/// streams copied) to the end of the drain, seconds.
/// Runs the hand-wired pipeline over `fixture`'s scenario at `rate` into a fresh `dir`, as the
/// benchmarks compare it with the orchestrated one.
pub(crate) async fn run_fixture(
    fixture: &crate::common::Fixture,
    rate: f64,
    propagator: PropagatorRuntime,
    dir: &std::path::Path,
    limit: Option<Duration>,
) -> anyhow::Result<crate::common::RunResult> {
    crate::common::prepare_out_dir(dir)?;
    let counters = Arc::new(Counters::default());
    let started = std::time::Instant::now();
    let cpu_s = run(
        Wiring {
            streams: fixture.streams.clone(),
            pacing: crate::common::Fixture::pacing(rate),
            registry: fixture.registry.clone(),
            catalog: fixture.shared_catalog(),
            propagator,
            correlator: fixture.correlator(1),
            out_dir: dir.to_path_buf(),
            counters: counters.clone(),
        },
        limit,
    )
    .await?;
    Ok(crate::common::RunResult {
        counters: counters.snapshot(),
        dropped_items: 0,
        clean: true,
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s,
    })
}

pub(crate) async fn run(w: Wiring, limit: Option<Duration>) -> anyhow::Result<f64> {
    let streams = SensorKind::ALL.map(|kind| SimStream::from_streams(&w.streams, kind));
    let cpu_before = crate::common::process_cpu_seconds();
    let stop = CancellationToken::new();
    let (raw_tx, raw_rx) = mpsc::channel::<RawFrame>(CAPACITY);
    let (val_tx, val_rx) = mpsc::channel::<Routed>(CAPACITY);
    let (ded_tx, ded_rx) = mpsc::channel::<Routed>(CAPACITY);
    let (dl_tx, dl_rx) = mpsc::channel::<Routed>(CAPACITY);
    let (obs_tx, obs_rx) = mpsc::channel::<Arc<Delivered>>(CAPACITY);
    let (cor_tx, cor_rx) = mpsc::channel::<Arc<Delivered>>(CORRELATOR_QUEUE);
    let (aud_tx, aud_rx) = mpsc::channel::<Arc<Delivered>>(CAPACITY);
    let (alr_tx, alr_rx) = mpsc::channel::<Arc<ConjunctionAlert>>(CAPACITY);
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    for stream in streams {
        tasks.spawn(source(
            Replay::new(stream, w.pacing),
            raw_tx.clone(),
            w.counters.clone(),
            stop.clone(),
        ));
    }
    drop(raw_tx);
    let normalizer = Normalizer::new(w.registry.clone());
    tasks.spawn(normalize_stage(
        raw_rx,
        val_tx,
        dl_tx.clone(),
        normalizer,
        w.counters.clone(),
    ));
    tasks.spawn(validate_stage(val_rx, ded_tx, dl_tx, w.counters.clone()));
    let correlator = Correlator::new(
        w.propagator.clone(),
        w.catalog.clone(),
        w.correlator,
        w.counters.clone(),
    );
    tasks.spawn(correlator_stage(cor_rx, alr_tx, correlator));
    tasks.spawn(dedup_stage(
        ded_rx,
        vec![obs_tx, cor_tx, aud_tx],
        w.counters.clone(),
    ));
    let (dir, c) = (&w.out_dir, &w.counters);
    tasks.spawn(sink(obs_rx, sinks::OBSERVATIONS, dir.clone(), c.clone()));
    tasks.spawn(sink(aud_rx, sinks::AUDIT, dir.clone(), c.clone()));
    tasks.spawn(sink(alr_rx, sinks::ALERTS, dir.clone(), c.clone()));
    tasks.spawn(dead_letter_sink(dl_rx, dir.clone(), c.clone()));
    let stopper = limit.map(|limit| {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stop.cancel();
        })
    });
    while let Some(joined) = tasks.join_next().await {
        joined.context("a hand-wired stage panicked")??;
    }
    if let Some(stopper) = stopper {
        stopper.abort();
    }
    Ok(crate::common::process_cpu_seconds() - cpu_before)
}

/// Sends all of `batch` on `tx`, reserving room for up to a channel's worth at a time.
async fn send_all<T>(tx: &mpsc::Sender<T>, batch: &mut Vec<T>) -> anyhow::Result<()> {
    let mut items = batch.drain(..);
    loop {
        let wanted = items.len().min(CAPACITY);
        if wanted == 0 {
            return Ok(());
        }
        let permits = tx
            .reserve_many(wanted)
            .await
            .map_err(|_| anyhow::anyhow!("channel closed"))?;
        for (permit, item) in permits.zip(&mut items) {
            permit.send(item);
        }
    }
}

/// The paced in-process replay, as the simulator's replay source drives it.
async fn source(
    replay: Replay,
    tx: mpsc::Sender<RawFrame>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (started, mut sent) = (Instant::now(), 0u64);
    let mut batch = Vec::new();
    while sent < replay.total() {
        let count = replay.due_frames(
            0,
            sent,
            started.elapsed(),
            unix_now(),
            MAX_BATCH,
            &mut batch,
        );
        send_all(&tx, &mut batch).await?;
        sent += count;
        counters
            .source(replay.kind())
            .frames
            .fetch_add(count, Ordering::Relaxed);
        if count == MAX_BATCH as u64 {
            if stop.is_cancelled() {
                return Ok(());
            }
            tokio::task::consume_budget().await;
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(TICK) => {}
        }
    }
    Ok(())
}

/// Splits a stage's output between the next stage and the dead letters (what the
/// orchestrated pipeline's filtered edges do).
async fn route(
    out: &mut Vec<Routed>,
    next: &mpsc::Sender<Routed>,
    dead: &mpsc::Sender<Routed>,
) -> anyhow::Result<()> {
    let (mut accepted, mut letters): (Vec<Routed>, Vec<Routed>) =
        out.drain(..).partition(Routed::is_accepted);
    send_all(next, &mut accepted).await?;
    send_all(dead, &mut letters).await
}

/// The `normalize` kernel over a channel.
async fn normalize_stage(
    mut rx: mpsc::Receiver<RawFrame>,
    tx: mpsc::Sender<Routed>,
    dead: mpsc::Sender<Routed>,
    kernel: Normalizer,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let (mut frames, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    while rx.recv_many(&mut frames, BATCH).await > 0 {
        kernel.run(&mut frames, &mut out, &counters);
        route(&mut out, &tx, &dead).await?;
    }
    Ok(())
}

/// The `validate` kernel over a channel.
async fn validate_stage(
    mut rx: mpsc::Receiver<Routed>,
    tx: mpsc::Sender<Routed>,
    dead: mpsc::Sender<Routed>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let kernel = Validator::default();
    let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    while rx.recv_many(&mut items, BATCH).await > 0 {
        kernel.run(&mut items, &mut out, &counters);
        route(&mut out, &tx, &dead).await?;
    }
    Ok(())
}

/// The `dedup` kernel over a channel, fanning out to its three consumers.
async fn dedup_stage(
    mut rx: mpsc::Receiver<Routed>,
    outs: Vec<mpsc::Sender<Arc<Delivered>>>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let window = Mutex::new(Deduplicator::new(DedupConfig::default()));
    let epoch = Instant::now();
    let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    while rx.recv_many(&mut items, BATCH).await > 0 {
        dedup_batch(&window, epoch.elapsed(), &mut items, &mut out, &counters)?;
        for tx in &outs {
            let mut copy = out.clone();
            send_all(tx, &mut copy).await?;
        }
        out.clear();
    }
    Ok(())
}

/// The correlator's kernel over a channel (its alerts go straight to the alerts sink).
async fn correlator_stage(
    mut rx: mpsc::Receiver<Arc<Delivered>>,
    tx: mpsc::Sender<Arc<ConjunctionAlert>>,
    kernel: Correlator,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(CORRELATOR_BATCH);
    // No watermarks on plain channels: the latest epoch seen less the sources' default bound
    // stands in for one (the graph's is the minimum over the sources, a little behind it).
    let mut latest = f64::NEG_INFINITY;
    loop {
        let open = rx.recv_many(&mut batch, CORRELATOR_BATCH).await > 0;
        latest = batch
            .iter()
            .map(|d| d.observation.epoch)
            .fold(latest, f64::max);
        if kernel.skips() {
            batch.clear();
            if open {
                continue;
            }
            return Ok(());
        }
        if open {
            kernel.observe(&mut batch).await?;
            let watermark = latest - sda_ingest::pipeline::event_time::DEFAULT_OUT_OF_ORDERNESS_S;
            kernel
                .advance(Some(EventTime::from_unix_seconds_f64(watermark)))
                .await?;
        }
        kernel.screen(!open).await?;
        while let Some(alert) = kernel.next_alert() {
            let alert = Arc::new(ConjunctionAlert::from_conjunction(&alert));
            tx.send(alert)
                .await
                .map_err(|_| anyhow::anyhow!("channel closed"))?;
            kernel.sent();
        }
        if !open {
            return Ok(());
        }
    }
}

/// The dead-letter sink over a channel: the sink's own writer and rate limit.
async fn dead_letter_sink(
    mut rx: mpsc::Receiver<Routed>,
    dir: PathBuf,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut writer = DeadLetterWriter::open(&dir, Default::default(), counters).await?;
    let mut items = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut items, BATCH).await > 0 {
        writer.write(&mut items, rx.is_empty()).await?;
    }
    writer.finish().await
}

/// A JSONL sink over a channel: the sinks' own writer.
async fn sink<T>(
    mut rx: mpsc::Receiver<T>,
    spec: JsonlSpec<T>,
    dir: PathBuf,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut writer = JsonlWriter::open(spec, &dir, counters).await?;
    let mut items = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut items, BATCH).await > 0 {
        writer.write(&mut items, rx.is_empty()).await?;
    }
    writer.finish().await
}
