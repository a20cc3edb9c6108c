//! The throughput baseline of DESIGN §12: the same ingest pipeline hand-wired with plain tokio
//! mpsc channels (capacity 1024, and `CORRELATOR_QUEUE` into the correlator, like the
//! orchestrator's edges) and `tokio::spawn`, doing the same work per record with the same
//! library functions — the same paced in-process sources,
//! wire decoders, normalisation, validation, dedup window, association and screening on the
//! same PropagatorPool, and the same JSONL encoders and buffered writers — but no supervisor,
//! no restart handling, no edge metrics and no filters (each stage sends accepted records and
//! dead letters straight to the right channel).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sda_ingest::orbit::associate::associate;
use sda_ingest::orbit::conjunction::screen;
use sda_ingest::orbit::propagate::Propagator;
use sda_ingest::pipeline::operators::{
    CORRELATOR_BATCH, ConjunctionAlert, CorrelatorConfig, decode_frame,
};
use sda_ingest::pipeline::sinks::{self, files};
use sda_ingest::pipeline::sources::{Pacing, SimStream};
use sda_ingest::pipeline::{
    CORRELATOR_QUEUE, Counters, DeadLetter, Delivered, RawFrame, Routed, WireFormat, unix_now,
};
use sda_ingest::process::dedup::{DedupConfig, Deduplicator, Verdict};
use sda_ingest::process::normalize::normalize;
use sda_ingest::process::validate::{ValidationPolicy, check};
use sda_ingest::sensors::SensorRegistry;
use sda_ingest::sim::scenario::{OPTICAL_PAGE_LEN, Streams};
use sda_ingest::{Observation, SensorKind};
use sda_orchestrator::DedicatedPool;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const CAPACITY: usize = 1024;
const BATCH: usize = 256;
const TICK: Duration = Duration::from_millis(20);

/// Everything the hand-wired pipeline needs.
pub(crate) struct Wiring {
    pub(crate) streams: Arc<Streams>,
    pub(crate) pacing: Pacing,
    pub(crate) registry: Arc<SensorRegistry>,
    pub(crate) catalog: Arc<[Propagator]>,
    pub(crate) pool: DedicatedPool,
    pub(crate) correlator: CorrelatorConfig,
    pub(crate) out_dir: std::path::PathBuf,
    pub(crate) counters: Arc<Counters>,
    /// Whether the correlator branch exists (`false`: dedup feeds the two JSONL sinks only).
    pub(crate) with_correlator: bool,
}

/// Runs the hand-wired pipeline until the sources finish (or `limit`, then a drain) and every
/// stage has drained; returns the process CPU time used from the end of set-up (the
/// streams copied) to the end of the drain, seconds.
pub(crate) async fn run(w: Wiring, limit: Option<Duration>) -> anyhow::Result<f64> {
    let streams = SensorKind::ALL.map(|kind| SimStream::from_streams(&w.streams, kind));
    let cpu_before = crate::common::process_cpu_seconds();
    let stop = CancellationToken::new();
    let (raw_tx, raw_rx) = mpsc::channel::<RawFrame>(CAPACITY);
    let (val_tx, val_rx) = mpsc::channel::<Arc<Observation>>(CAPACITY);
    let (ded_tx, ded_rx) = mpsc::channel::<Arc<Observation>>(CAPACITY);
    let (dl_tx, dl_rx) = mpsc::channel::<Routed>(CAPACITY);
    let (obs_tx, obs_rx) = mpsc::channel::<Arc<Delivered>>(CAPACITY);
    let (cor_tx, cor_rx) = mpsc::channel::<Arc<Delivered>>(CORRELATOR_QUEUE);
    let (aud_tx, aud_rx) = mpsc::channel::<Arc<Delivered>>(CAPACITY);
    let (alr_tx, alr_rx) = mpsc::channel::<Arc<ConjunctionAlert>>(CAPACITY);
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    for stream in streams {
        tasks.spawn(source(
            stream,
            w.pacing,
            raw_tx.clone(),
            w.counters.clone(),
            stop.clone(),
        ));
    }
    drop(raw_tx);
    tasks.spawn(normalize_stage(
        raw_rx,
        val_tx,
        dl_tx.clone(),
        w.registry.clone(),
        w.counters.clone(),
    ));
    tasks.spawn(validate_stage(val_rx, ded_tx, dl_tx, w.counters.clone()));
    let outs = if w.with_correlator {
        tasks.spawn(correlator_stage(
            cor_rx,
            alr_tx,
            w.pool.clone(),
            w.catalog.clone(),
            w.correlator,
            w.counters.clone(),
        ));
        vec![obs_tx, cor_tx, aud_tx]
    } else {
        drop((cor_rx, cor_tx, alr_tx));
        vec![obs_tx, aud_tx]
    };
    tasks.spawn(dedup_stage(ded_rx, outs, w.counters.clone()));
    let dir = &w.out_dir;
    let c = &w.counters;
    tasks.spawn(sink(
        obs_rx,
        dir.join(files::OBSERVATIONS),
        c.clone(),
        |c| &c.delivered,
        sinks::encode_observation,
    ));
    tasks.spawn(sink(
        aud_rx,
        dir.join(files::AUDIT),
        c.clone(),
        |c| &c.audited,
        sinks::encode_audit,
    ));
    tasks.spawn(sink(
        alr_rx,
        dir.join(files::ALERTS),
        c.clone(),
        |c| &c.alerts,
        sinks::encode_alert,
    ));
    tasks.spawn(sink(
        dl_rx,
        dir.join(files::DEAD_LETTER),
        c.clone(),
        |c| &c.dead_lettered,
        sinks::encode_dead_letter,
    ));
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

/// The paced in-process replay of `sources::simulated`, one pass.
async fn source(
    stream: SimStream,
    pacing: Pacing,
    tx: mpsc::Sender<RawFrame>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let len = stream.messages.len() as u64;
    let total = len * u64::from(pacing.passes.unwrap_or(1));
    let weight = match WireFormat::for_kind(stream.kind) {
        WireFormat::OpticalPage => OPTICAL_PAGE_LEN as f64,
        _ => 1.0,
    };
    let per_s = (pacing.records_per_s / weight).max(f64::MIN_POSITIVE);
    let (started, mut sent) = (Instant::now(), 0u64);
    let mut batch = Vec::new();
    while sent < total && len > 0 {
        let due = (started.elapsed().as_secs_f64() * per_s) as u64 + 1;
        let now = unix_now();
        for n in sent..due.min(total) {
            let index = (n % len) as usize;
            batch.push(RawFrame {
                source: stream.name.clone(),
                kind: stream.kind,
                format: WireFormat::for_kind(stream.kind),
                pass: u32::try_from(n / len).unwrap_or(u32::MAX),
                index,
                bytes: stream.messages.get(index).cloned().unwrap_or_default(),
                received_at: now,
            });
        }
        let count = batch.len() as u64;
        send_all(&tx, &mut batch).await?;
        sent += count;
        counters.frames.fetch_add(count, Ordering::Relaxed);
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(TICK) => {}
        }
    }
    Ok(())
}

/// Decodes frames and normalises each record, as the `normalize` operator does.
async fn normalize_stage(
    mut rx: mpsc::Receiver<RawFrame>,
    tx: mpsc::Sender<Arc<Observation>>,
    dead: mpsc::Sender<Routed>,
    registry: Arc<SensorRegistry>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let (mut frames, mut out, mut letters) = (Vec::new(), Vec::new(), Vec::new());
    while rx.recv_many(&mut frames, BATCH).await > 0 {
        for frame in frames.drain(..) {
            let (records, failure) = decode_frame(&frame, &counters);
            for record in records {
                let mut obs = normalize(&record, &registry);
                obs.ingest.received_at = Some(frame.received_at);
                out.push(Arc::new(obs));
            }
            if let Some((code, reason)) = failure {
                let letter = DeadLetter::undecodable(&frame, code, reason);
                letters.push(Routed::DeadLetter(Arc::new(letter)));
            }
        }
        let produced = (out.len() + letters.len()) as u64;
        counters.received.fetch_add(produced, Ordering::Relaxed);
        send_all(&tx, &mut out).await?;
        send_all(&dead, &mut letters).await?;
    }
    Ok(())
}

/// Validates, as the `validate` operator does.
async fn validate_stage(
    mut rx: mpsc::Receiver<Arc<Observation>>,
    tx: mpsc::Sender<Arc<Observation>>,
    dead: mpsc::Sender<Routed>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let policy = ValidationPolicy::default();
    let (mut items, mut out, mut letters) = (Vec::new(), Vec::new(), Vec::new());
    while rx.recv_many(&mut items, BATCH).await > 0 {
        for obs in items.drain(..) {
            let Some(reason) = check(&obs, &policy) else {
                out.push(obs);
                continue;
            };
            let letter = DeadLetter::rejected(reason, Arc::unwrap_or_clone(obs));
            letters.push(Routed::DeadLetter(Arc::new(letter)));
        }
        counters
            .accepted
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        send_all(&tx, &mut out).await?;
        send_all(&dead, &mut letters).await?;
    }
    Ok(())
}

/// Drops re-sends, encodes the rest once and fans them out, as the `dedup` operator and its
/// three edges do.
async fn dedup_stage(
    mut rx: mpsc::Receiver<Arc<Observation>>,
    outs: Vec<mpsc::Sender<Arc<Delivered>>>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut window = Deduplicator::new(DedupConfig::default());
    let epoch = Instant::now();
    let (mut items, mut out) = (Vec::new(), Vec::new());
    while rx.recv_many(&mut items, BATCH).await > 0 {
        let now = epoch.elapsed();
        let mut duplicates = 0;
        for obs in items.drain(..) {
            match window.check(&obs, now) {
                Verdict::New => out.push(Arc::new(Delivered::new(Arc::unwrap_or_clone(obs))?)),
                Verdict::Duplicate => duplicates += 1,
            }
        }
        counters.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        for tx in &outs {
            let mut copy = out.clone();
            send_all(tx, &mut copy).await?;
        }
        out.clear();
    }
    Ok(())
}

/// Associates on the pool and screens as the data advances, as the `correlator` operator does
/// (its alerts go straight to the alerts sink).
async fn correlator_stage(
    mut rx: mpsc::Receiver<Arc<Delivered>>,
    tx: mpsc::Sender<Arc<ConjunctionAlert>>,
    pool: DedicatedPool,
    catalog: Arc<[Propagator]>,
    config: CorrelatorConfig,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(CORRELATOR_BATCH);
    let (mut horizon, mut screened) = (f64::NEG_INFINITY, config.screen_from);
    let mut raised = std::collections::HashSet::new();
    loop {
        let open = rx.recv_many(&mut batch, CORRELATOR_BATCH).await > 0;
        if open {
            let latest = batch
                .iter()
                .map(|d| d.observation.epoch)
                .fold(f64::NEG_INFINITY, f64::max);
            horizon = horizon.max((latest + config.lookahead_s).min(config.screen_limit));
            let (observations, objects) = (std::mem::take(&mut batch), catalog.clone());
            let (hits, total) = pool
                .submit(move || {
                    let hits = observations
                        .iter()
                        .filter(|d| associate(&d.observation, &objects, config.gate_km).is_some())
                        .count();
                    (hits as u64, observations.len() as u64)
                })
                .await?;
            counters.associated.fetch_add(hits, Ordering::Relaxed);
            counters
                .unassociated
                .fetch_add(total - hits, Ordering::Relaxed);
        }
        if (horizon - screened >= config.min_step_s || !open) && horizon > screened {
            let (objects, cfg, from, until) =
                (catalog.clone(), config.screening, screened, horizon);
            let found = pool
                .submit(move || screen(&objects, from, until, &cfg))
                .await?;
            counters.screenings.fetch_add(1, Ordering::Relaxed);
            screened = until;
            let mut alerts: Vec<_> = found
                .conjunctions
                .iter()
                .filter(|c| raised.insert((c.a, c.b)))
                .map(|c| Arc::new(ConjunctionAlert::from_conjunction(c)))
                .collect();
            send_all(&tx, &mut alerts).await?;
        }
        if !open {
            return Ok(());
        }
    }
}

/// A JSONL sink, as `sinks::jsonl_sink`.
async fn sink<T>(
    mut rx: mpsc::Receiver<T>,
    path: std::path::PathBuf,
    counters: Arc<Counters>,
    counter: fn(&Counters) -> &AtomicU64,
    encode: fn(&T, &mut Vec<u8>) -> serde_json::Result<bool>,
) -> anyhow::Result<()> {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await?;
    const BUFFER_BYTES: usize = 64 * 1024;
    let (mut file, mut buf) = (file, Vec::with_capacity(BUFFER_BYTES + 4096));
    let mut items = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut items, BATCH).await > 0 {
        let mut written = 0;
        for item in items.drain(..) {
            if encode(&item, &mut buf)? {
                buf.push(b'\n');
                written += 1;
            }
            if buf.len() >= BUFFER_BYTES {
                file.write_all(&buf).await?;
                buf.clear();
            }
        }
        counter(&counters).fetch_add(written, Ordering::Relaxed);
        if rx.is_empty() {
            file.write_all(&buf).await?;
            buf.clear();
            file.flush().await?;
        }
    }
    file.write_all(&buf).await?;
    file.flush().await?;
    file.sync_data().await?;
    Ok(())
}
