//! `dedup`: drops re-sent observations with the domain [`Deduplicator`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use sda_orchestrator::{OperatorContext, OperatorFactory};
use tokio::time::Instant;

use super::BATCH;
use crate::observation::Observation;
use crate::pipeline::counters::Counters;
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::routed::Routed;
use crate::process::dedup::{DedupConfig, Deduplicator, Verdict};

/// The `dedup` operator. Dead letters are ignored (see [`Routed`]); duplicates are counted in
/// `duplicates` and dropped.
///
/// The window lives outside the incarnation, so a restart keeps what it has seen instead of
/// letting a burst of re-sends through. Its arrival clock is a tokio [`Instant`] taken when the
/// operator is declared.
pub fn dedup(
    config: DedupConfig,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Arc<Observation>> {
    let window = Arc::new(Mutex::new(Deduplicator::new(config)));
    let epoch = Instant::now();
    move |mut ctx: OperatorContext<Routed, Arc<Observation>>| {
        let (window, counters, faults) = (window.clone(), counters.clone(), faults.clone());
        async move {
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
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
                            Verdict::New => out.push(obs),
                            Verdict::Duplicate => duplicates += 1,
                        }
                    }
                }
                counters.duplicates.fetch_add(duplicates, Ordering::Relaxed);
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
