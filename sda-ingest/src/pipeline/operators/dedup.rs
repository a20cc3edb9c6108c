//! `dedup`: drops re-sent observations with the domain [`Deduplicator`] and encodes each one it
//! lets through, once, for the sinks ([`Delivered`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sda_ingest_core::process::dedup::{Deduplicator, Verdict};
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
        for item in items.drain(..) {
            let Routed::Accepted(obs) = item else {
                continue;
            };
            match window.check(&obs, now) {
                Verdict::New => fresh.push(obs),
                Verdict::Duplicate => bump(&counters.source(source_of(&obs)).duplicates),
            }
        }
    }
    // `validate` handed each observation on alone, so taking it out of its `Arc` moves it
    // rather than copying it.
    for obs in fresh {
        out.push(Arc::new(Delivered::new(Arc::unwrap_or_clone(obs))?));
    }
    Ok(())
}

/// The `dedup` operator: [`dedup_batch`] over each batch of its input.
///
/// The window (`Deduplicator::new(config)`, shared with `validate`'s lateness check, which
/// reads it) lives outside the incarnation, so a restart keeps what it has seen instead of
/// letting a burst of re-sends through. Its arrival clock is a tokio [`Instant`] taken when the
/// operator is declared.
pub fn dedup(
    window: Arc<Mutex<Deduplicator>>,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Arc<Delivered>> {
    let epoch = Instant::now();
    move |mut ctx: OperatorContext<Routed, Arc<Delivered>>| {
        let (window, counters, faults) = (window.clone(), counters.clone(), faults.clone());
        async move {
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check_holding("dedup", &mut ctx.input, &mut items)?;
                dedup_batch(&window, epoch.elapsed(), &mut items, &mut out, &counters)?;
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
