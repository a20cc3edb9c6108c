//! `dedup`: drops re-sent observations with the domain [`Deduplicator`] and encodes each one it
//! lets through, once, for the sinks ([`Delivered`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use sda_orchestrator::{OperatorContext, OperatorFactory};
use tokio::time::Instant;

use super::BATCH;
use crate::pipeline::Delivered;
use crate::pipeline::counters::Counters;
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::routed::Routed;
use crate::process::dedup::{DedupConfig, Deduplicator, Verdict};

/// The `dedup` operator. Dead letters are ignored (see [`Routed`]); duplicates are counted in
/// `duplicates` and dropped; first sightings go on as [`Delivered`], encoded here so that the
/// observations and audit sinks share one encoding.
///
/// The window lives outside the incarnation, so a restart keeps what it has seen instead of
/// letting a burst of re-sends through. Its arrival clock is a tokio [`Instant`] taken when the
/// operator is declared.
pub fn dedup(
    config: DedupConfig,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Arc<Delivered>> {
    let window = Arc::new(Mutex::new(Deduplicator::new(config)));
    let epoch = Instant::now();
    move |mut ctx: OperatorContext<Routed, Arc<Delivered>>| {
        let (window, counters, faults) = (window.clone(), counters.clone(), faults.clone());
        async move {
            let (mut items, mut fresh) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            let mut out = Vec::with_capacity(BATCH);
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check("dedup")?;
                let mut duplicates = 0;
                {
                    // Held only for this synchronous loop; never across an await.
                    let mut window = window.lock().unwrap_or_else(PoisonError::into_inner);
                    let now = epoch.elapsed();
                    for item in items.drain(..) {
                        let Routed::Accepted(obs) = item else {
                            continue;
                        };
                        match window.check(&obs, now) {
                            Verdict::New => fresh.push(obs),
                            Verdict::Duplicate => duplicates += 1,
                        }
                    }
                }
                counters.duplicates.fetch_add(duplicates, Ordering::Relaxed);
                // Encoded outside the lock; `validate` handed each observation on alone, so
                // taking it out of its `Arc` moves it rather than copying it.
                for obs in fresh.drain(..) {
                    out.push(Arc::new(Delivered::new(Arc::unwrap_or_clone(obs))?));
                }
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
