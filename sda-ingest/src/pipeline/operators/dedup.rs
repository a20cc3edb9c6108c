//! `dedup`: drops re-sent observations with the domain [`Deduplicator`] and encodes each one it
//! lets through, once, for the sinks ([`Delivered`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sda_ingest_core::Observation;
use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator, Verdict};
use sda_orchestrator::checkpoint::State;
use sda_orchestrator::{OperatorContext, OperatorFactory};
use tokio::time::Instant;

use super::BATCH;
use crate::pipeline::Delivered;
use crate::pipeline::counters::{Counters, bump};
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::routed::Routed;
use crate::pipeline::sinks::source_of;

/// The synchronous kernel of `dedup`, shared by the operator and the hand-wired benchmark
/// baseline: checks every accepted observation of `items` (leaving it empty) against `window`
/// at arrival time `now`, counts re-sends in `duplicates`, and appends each first sighting to
/// `out`, encoded once for the sinks. Dead letters are skipped (see [`Routed`]).
///
/// The window is only locked by the caller for the check; encoding happens after, so a caller
/// that shares the window holds its lock for the checks alone.
///
/// # Errors
///
/// What encoding an observation reports ([`Delivered::new`]); in practice none.
pub fn dedup_batch(
    window: &Mutex<Deduplicator>,
    now: Duration,
    items: &mut Vec<Routed>,
    out: &mut Vec<Arc<Delivered>>,
    counters: &Counters,
) -> serde_json::Result<()> {
    let mut fresh = Vec::with_capacity(items.len());
    {
        // Held only for this synchronous loop; never across an await.
        let mut window = window.lock().unwrap_or_else(PoisonError::into_inner);
        check_batch(&mut window, now, items, &mut fresh, counters);
    }
    encode(&mut fresh, out)
}

/// Checks every accepted observation of `items` (leaving it empty) against `window`, counting
/// re-sends and moving first sightings to `fresh`.
fn check_batch(
    window: &mut Deduplicator,
    now: Duration,
    items: &mut Vec<Routed>,
    fresh: &mut Vec<Arc<Observation>>,
    counters: &Counters,
) {
    for item in items.drain(..) {
        let Routed::Accepted(obs, _) = item else {
            continue;
        };
        match window.check(&obs, now) {
            Verdict::New => fresh.push(obs),
            Verdict::Duplicate => bump(&counters.source(source_of(&obs)).duplicates),
        }
    }
}

/// Encodes each observation of `fresh` (leaving it empty) once, for the sinks, into `out`.
fn encode(
    fresh: &mut Vec<Arc<Observation>>,
    out: &mut Vec<Arc<Delivered>>,
) -> serde_json::Result<()> {
    // `validate` handed each observation on alone, so taking it out of its `Arc` moves it
    // rather than copying it.
    for obs in fresh.drain(..) {
        out.push(Arc::new(Delivered::new(Arc::unwrap_or_clone(obs))?));
    }
    Ok(())
}

/// `dedup`'s window, shared with `validate`'s lateness check, which reads it: the operator's
/// registered state (`ctx.state`, so checkpointed, restored after a crash and kept across
/// restarts) once `dedup` has started, a window of its own before.
#[derive(Debug, Clone, Default)]
pub struct DedupWindow {
    registered: Arc<Mutex<Option<State<Deduplicator>>>>,
    local: Arc<Mutex<Deduplicator>>,
}

impl DedupWindow {
    /// An empty window with `config`, until `dedup` registers its state.
    pub fn new(config: DedupConfig) -> Self {
        DedupWindow {
            registered: Arc::default(),
            local: Arc::new(Mutex::new(Deduplicator::new(config))),
        }
    }

    /// `dedup`'s incarnation registered `state`: from now on it is the window.
    fn register(&self, state: State<Deduplicator>) {
        *self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(state);
    }

    /// Runs `f` on the window, locked for its duration (keep it short and synchronous).
    pub fn with<R>(&self, f: impl FnOnce(&mut Deduplicator) -> R) -> R {
        let registered = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match registered {
            Some(state) => state.update(f),
            None => f(&mut self.local.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// Whether the window remembers `obs` (see [`Deduplicator::has_seen`]).
    pub fn has_seen(&self, obs: &sda_ingest_core::Observation) -> bool {
        self.with(|w| w.has_seen(obs))
    }
}

/// The `dedup` operator: [`dedup_batch`]'s checks over each batch of its input, on `window`.
///
/// The window is the operator's registered state: it survives an in-process restart (a burst
/// of re-sends is not let through) and is part of every checkpoint, so a run resumed after a
/// crash still knows what it delivered. Its arrival clock is a tokio [`Instant`] taken when the
/// operator is declared; a restored window's ages are from the run that recorded them, so its
/// entries are kept up to one `max_age` longer, never shorter.
pub fn dedup(
    window: DedupWindow,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Arc<Delivered>> {
    let epoch = Instant::now();
    move |mut ctx: OperatorContext<Routed, Arc<Delivered>>| {
        let (window, counters, faults) = (window.clone(), counters.clone(), faults.clone());
        async move {
            window.register(ctx.state::<Deduplicator>()?);
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            let mut fresh = Vec::with_capacity(BATCH);
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check_holding("dedup", &mut ctx.input, &mut items)?;
                let now = epoch.elapsed();
                window.with(|w| check_batch(w, now, &mut items, &mut fresh, &counters));
                encode(&mut fresh, &mut out)?;
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
