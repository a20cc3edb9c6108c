//! `validate`: passes a valid observation on and turns an invalid one into a dead letter with
//! its reason code.

use std::sync::Arc;

use sda_ingest_core::process::validate::{ValidationPolicy, check};
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
            let Routed::Accepted(obs) = item else {
                continue;
            };
            let Some(reason) = check(&obs, &self.policy) else {
                bump(&counters.source(source_of(&obs)).accepted);
                out.push(Routed::Accepted(obs));
                continue;
            };
            let letter = DeadLetter::rejected(reason, Arc::unwrap_or_clone(obs));
            out.push(Routed::DeadLetter(Arc::new(letter)));
        }
    }
}

/// The `validate` operator: [`Validator::run`] over each batch of its input.
pub fn validate(
    policy: ValidationPolicy,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Routed> {
    let kernel = Validator::new(policy);
    move |mut ctx: OperatorContext<Routed, Routed>| {
        let (counters, faults) = (counters.clone(), faults.clone());
        async move {
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check_holding("validate", &mut ctx.input, &mut items)?;
                kernel.run(&mut items, &mut out, &counters);
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
