//! `validate`: passes a valid observation on and turns an invalid one into a dead letter with
//! its reason code.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sda_orchestrator::{OperatorContext, OperatorFactory};

use super::BATCH;
use crate::pipeline::counters::Counters;
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::routed::{DeadLetter, Routed};
use crate::process::validate::{ValidationPolicy, check};

/// The `validate` operator. Dead letters arriving from `normalize` are ignored here (the
/// dead-letter sink receives them directly; see [`Routed`]). Counts `accepted`.
pub fn validate(
    policy: ValidationPolicy,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Routed, Routed> {
    move |mut ctx: OperatorContext<Routed, Routed>| {
        let (counters, faults) = (counters.clone(), faults.clone());
        async move {
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check("validate")?;
                let mut accepted = 0;
                for item in items.drain(..) {
                    let Routed::Accepted(obs) = item else {
                        continue;
                    };
                    // A valid observation goes on in the allocation it came in.
                    let Some(reason) = check(&obs, &policy) else {
                        accepted += 1;
                        out.push(Routed::Accepted(obs));
                        continue;
                    };
                    let letter = DeadLetter::rejected(reason, Arc::unwrap_or_clone(obs));
                    out.push(Routed::DeadLetter(Arc::new(letter)));
                }
                counters.accepted.fetch_add(accepted, Ordering::Relaxed);
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
