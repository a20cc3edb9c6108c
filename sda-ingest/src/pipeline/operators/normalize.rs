//! `normalize`: decodes raw frames with the real wire decoders and converts each record to an
//! [`Observation`]; a frame that fails to decode becomes a dead letter with the decoder's code.

use std::sync::Arc;

use bytes::BytesMut;
use sda_orchestrator::{OperatorContext, OperatorFactory};
use tokio_util::codec::Decoder;

use super::BATCH;
use crate::pipeline::counters::{Counters, bump};
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::frame::{RawFrame, WireFormat};
use crate::pipeline::routed::{DeadLetter, Routed};
use crate::process::normalize::{WireRecord, normalize as to_observation};
use crate::sensors::SensorRegistry;
use crate::wire::isl::{IslCodec, IslFrame};
use crate::wire::optical::OpticalPage;
use crate::wire::radar::RadarRecord;
use crate::wire::synthetic::SyntheticRecord;

/// A decoding failure: the decoder's stable code and its message.
/// Why a frame stopped decoding: the decoder's reason code and message.
pub type DecodeFailure = (&'static str, String);

/// The `normalize` operator: one [`Routed`] item per record (an optical page yields many, an ISL
/// heartbeat none), counting each in `received`.
pub fn normalize(
    registry: Arc<SensorRegistry>,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<RawFrame, Routed> {
    move |mut ctx: OperatorContext<RawFrame, Routed>| {
        let (registry, counters, faults) = (registry.clone(), counters.clone(), faults.clone());
        async move {
            let (mut frames, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut frames, BATCH).await > 0 {
                faults.check("normalize")?;
                for frame in frames.drain(..) {
                    let (records, failure) = decode_frame(&frame, &counters);
                    for record in records {
                        let mut obs = to_observation(&record, &registry);
                        obs.ingest.received_at = Some(frame.received_at);
                        out.push(Routed::Accepted(Arc::new(obs)));
                    }
                    if let Some((code, message)) = failure {
                        let letter = DeadLetter::undecodable(&frame, code, message);
                        out.push(Routed::DeadLetter(Arc::new(letter)));
                    }
                }
                let produced = out.len() as u64;
                counters
                    .received
                    .fetch_add(produced, std::sync::atomic::Ordering::Relaxed);
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}

/// Decodes one frame into its records with the real wire decoders, and the failure that
/// stopped it, if any (an ISL frame decoded before the failure is kept). ISL heartbeats carry
/// no record and are counted in `counters.heartbeats`.
pub fn decode_frame(
    frame: &RawFrame,
    counters: &Counters,
) -> (Vec<WireRecord>, Option<DecodeFailure>) {
    let fail = |code: &'static str, e: &dyn std::fmt::Display| Some((code, e.to_string()));
    match frame.format {
        WireFormat::Radar => match RadarRecord::decode(&frame.bytes) {
            Ok(r) => (vec![WireRecord::Radar(r)], None),
            Err(e) => (Vec::new(), fail(e.code(), &e)),
        },
        WireFormat::Synthetic => match SyntheticRecord::decode(&frame.bytes) {
            Ok(r) => (vec![WireRecord::Synthetic(r)], None),
            Err(e) => (Vec::new(), fail(e.code(), &e)),
        },
        WireFormat::OpticalPage => match OpticalPage::decode(&frame.bytes) {
            Ok(page) => (
                page.observations
                    .into_iter()
                    .map(WireRecord::Optical)
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), fail(e.code(), &e)),
        },
        WireFormat::Isl => {
            // A frame normally holds exactly one ISL frame; decoding in a loop also copes with
            // a transport that hands over several at once.
            let (mut buf, mut records) = (BytesMut::from(&frame.bytes[..]), Vec::new());
            loop {
                match IslCodec.decode_eof(&mut buf) {
                    Ok(Some(IslFrame::State(r))) => records.push(WireRecord::Isl(r)),
                    Ok(Some(IslFrame::Heartbeat { .. })) => bump(&counters.heartbeats),
                    Ok(None) => return (records, None),
                    Err(e) => return (records, fail(e.code(), &e)),
                }
            }
        }
    }
}
