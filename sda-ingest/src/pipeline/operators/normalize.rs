//! `normalize`: decodes raw frames with the wire decoders and converts each record to an
//! [`Observation`](sda_ingest_core::Observation); a frame that fails to decode becomes a dead
//! letter with the decoder's code.

use std::sync::Arc;

use sda_ingest_core::process::normalize::normalize as to_observation;
use sda_ingest_core::sensors::SensorRegistry;
use sda_ingest_core::wire;
use sda_orchestrator::{OperatorContext, OperatorFactory};

use super::BATCH;
use crate::pipeline::counters::{Counters, add, bump};
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::frame::RawFrame;
use crate::pipeline::routed::{DeadLetter, Routed};

/// The synchronous kernel of `normalize`, shared by the operator and the hand-wired benchmark
/// baseline.
#[derive(Debug, Clone)]
pub struct Normalizer {
    registry: Arc<SensorRegistry>,
}

impl Normalizer {
    /// A normaliser naming sensors from `registry`.
    pub fn new(registry: Arc<SensorRegistry>) -> Self {
        Normalizer { registry }
    }

    /// Decodes every frame of `frames` (leaving it empty) and appends one [`Routed`] item per
    /// record to `out` (an optical page yields many, an ISL heartbeat none), and one dead letter
    /// per part that failed to decode (a whole frame, or one record of a page). Each record is
    /// stamped with its source and receive time, and counted against its source: the frame in
    /// `frames_decoded`, each item in `read`; heartbeats in `heartbeats`.
    pub fn run(&self, frames: &mut Vec<RawFrame>, out: &mut Vec<Routed>, counters: &Counters) {
        let mut heartbeats = 0;
        for frame in frames.drain(..) {
            let before = out.len();
            let decoded = wire::decode(frame.format, &frame.bytes);
            heartbeats += decoded.heartbeats;
            for (n, record) in decoded.records.iter().enumerate() {
                let mut obs = to_observation(record, &self.registry);
                obs.ingest.received_at = Some(frame.received_at);
                obs.ingest.source = Some(frame.kind);
                out.push(Routed::Accepted(Arc::new(obs), frame.origin(n)));
            }
            for failure in decoded.failures {
                let letter = DeadLetter::undecodable(&frame, failure);
                out.push(Routed::DeadLetter(Arc::new(letter)));
            }
            let source = counters.source(frame.kind);
            bump(&source.frames_decoded);
            add(&source.read, (out.len() - before) as u64);
        }
        add(&counters.heartbeats, heartbeats);
    }
}

/// The `normalize` operator: [`Normalizer::run`] over each batch of its input.
pub fn normalize(
    registry: Arc<SensorRegistry>,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<RawFrame, Routed> {
    let kernel = Normalizer::new(registry);
    move |mut ctx: OperatorContext<RawFrame, Routed>| {
        let (kernel, counters, faults) = (kernel.clone(), counters.clone(), faults.clone());
        async move {
            let (mut frames, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut frames, BATCH).await > 0 {
                faults.check_holding("normalize", &mut ctx.input, &mut frames)?;
                kernel.run(&mut frames, &mut out, &counters);
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}
