//! `validate`: passes a valid observation on and turns an invalid one into a dead letter with
//! its reason code.

use std::sync::Arc;

use sda_ingest_core::Observation;
use sda_ingest_core::process::event_time::EventTimeConfig;
use sda_ingest_core::process::validate::{ValidationPolicy, check};
use sda_orchestrator::time::EventTime;
use sda_orchestrator::{OperatorContext, OperatorFactory};

use super::BATCH;
use crate::pipeline::counters::{Counters, bump};
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::routed::{DeadLetter, Routed};
use crate::pipeline::sinks::source_of;

/// The synchronous kernel of `validate`, shared by the operator and the hand-wired benchmark
/// baseline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validator {
    policy: ValidationPolicy,
}

impl Validator {
    /// A validator applying `policy`.
    pub fn new(policy: ValidationPolicy) -> Self {
        Validator { policy }
    }

    /// Checks every accepted observation of `items` (leaving it empty): a valid one goes on to
    /// `out` in the allocation it came in, an invalid one becomes a dead letter. Dead letters
    /// arriving from `normalize` are skipped: the dead-letter sink receives them directly (see
    /// [`Routed`]). Counts `accepted`.
    pub fn run(&self, items: &mut Vec<Routed>, out: &mut Vec<Routed>, counters: &Counters) {
        for item in items.drain(..) {
            let Routed::Accepted(obs, origin) = item else {
                continue;
            };
            let Some(reason) = check(&obs, &self.policy) else {
                bump(&counters.source(source_of(&obs)).accepted);
                out.push(Routed::Accepted(obs, origin));
                continue;
            };
            let letter = DeadLetter::rejected(reason, Arc::unwrap_or_clone(obs), origin);
            out.push(Routed::DeadLetter(Arc::new(letter)));
        }
    }
}

/// The lateness check `validate` runs after its own checks: a valid observation whose
/// event-time window has closed under the input watermark is dead-lettered with reason `late`,
/// unless `dedup` has already seen it (a re-send of a delivered record is a duplicate, counted
/// as such by `dedup`, whatever its time).
#[derive(Debug, Clone)]
pub struct Lateness {
    /// The windows the correlator closes: a record is late once its window has closed.
    pub windows: EventTimeConfig,
    /// `dedup`'s window, read (never changed) to tell re-sends from late first sightings.
    pub seen: super::DedupWindow,
}

impl Lateness {
    /// Turns each accepted observation of `out` that is late under
    /// `watermark` into a `late` dead letter, counting it against its source.
    fn apply(&self, watermark: Option<EventTime>, out: &mut [Routed], counters: &Counters) {
        let Some(watermark) = watermark else {
            return;
        };
        let watermark_s = watermark.as_unix_micros() as f64 / 1e6;
        for item in out.iter_mut() {
            let Routed::Accepted(obs, origin) = item else {
                continue;
            };
            if !self.windows.is_late(obs.epoch, Some(watermark_s)) || self.was_seen(obs) {
                continue;
            }
            let source = source_of(obs);
            let letter =
                DeadLetter::late(Observation::clone(obs), *origin, watermark_s, &self.windows);
            let source_counters = counters.source(source);
            // It passed validation's checks and was counted accepted; it is not accepted now.
            source_counters
                .accepted
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            bump(&source_counters.late);
            *item = Routed::DeadLetter(Arc::new(letter));
        }
    }

    fn was_seen(&self, obs: &Observation) -> bool {
        self.seen.has_seen(obs)
    }
}

/// The `validate` operator: [`Validator::run`] over each batch of its input, then, with
/// `lateness`, the lateness check under its input watermark.
pub fn validate(
    policy: ValidationPolicy,
    lateness: Option<Lateness>,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Routed> {
    let kernel = Validator::new(policy);
    move |mut ctx: OperatorContext<Routed, Routed>| {
        let (counters, faults, lateness) = (counters.clone(), faults.clone(), lateness.clone());
        async move {
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check_holding("validate", &mut ctx.input, &mut items)?;
                kernel.run(&mut items, &mut out, &counters);
                // The items of one receive all came after the watermark it shows: markers are
                // handled in order before the items behind them are handed out.
                if let Some(lateness) = &lateness {
                    lateness.apply(ctx.input.watermark(), &mut out, &counters);
                }
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
