//! The item type of the stages that can reject: an accepted observation or a dead letter.
//!
//! An operator has one output type, so `normalize` and `validate` emit [`Routed`] items, and
//! the topology routes them with filtered edges: `[filter = Routed::is_accepted]` to the next
//! stage, `[filter = Routed::is_dead_letter]` to the dead-letter sink. Each item travels on one
//! edge only. The consumers still match on the variant (the type allows both) and skip the
//! other one, which the filters make unreachable in this topology.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use sda_ingest_core::Observation;
use sda_ingest_core::process::validate::RejectReason;

use super::frame::RawFrame;

/// One item out of `normalize` or `validate`.
#[derive(Debug, Clone)]
pub enum Routed {
    /// An observation that goes on to the next stage.
    Accepted(Arc<Observation>),
    /// A record that goes to the dead-letter sink.
    DeadLetter(Arc<DeadLetter>),
}

impl Routed {
    /// Whether this is an accepted observation: the filter of the edges to the next stage.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Routed::Accepted(_))
    }

    /// Whether this is a dead letter: the filter of the edges to the dead-letter sink.
    pub fn is_dead_letter(&self) -> bool {
        matches!(self, Routed::DeadLetter(_))
    }
}

/// A record the pipeline could not use, as written to `dead_letter.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The stage that rejected it: `normalize` (decoding) or `validate`.
    pub stage: &'static str,
    /// The stable reason code: the decoder's `code()` or the validation reason's.
    pub reason_code: &'static str,
    /// Human-readable reason.
    pub reason: String,
    /// The source stream it came from (the source vertex, named after its sensor kind).
    pub source: String,
    /// Observation id, when decoding got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Replay pass of the raw frame (decode failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<u32>,
    /// Position of the raw frame in its stream (decode failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The raw bytes (decode failures only): hex for binary formats, text for JSON ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The normalised observation (validation failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// When the source received it: UTC seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<f64>,
}

impl DeadLetter {
    /// The dead letter of a frame that `normalize` could not decode: the decoder's `code` and
    /// `reason`, and the raw bytes (hex for the binary formats, text for the JSON ones).
    pub fn undecodable(frame: &RawFrame, code: &'static str, reason: String) -> DeadLetter {
        let raw = if frame.format.is_binary() {
            frame
                .bytes
                .iter()
                .fold(String::with_capacity(frame.bytes.len() * 2), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                })
        } else {
            String::from_utf8_lossy(&frame.bytes).into_owned()
        };
        DeadLetter {
            stage: "normalize",
            reason_code: code,
            reason,
            source: frame.source.to_string(),
            id: None,
            pass: Some(frame.pass),
            index: Some(frame.index),
            raw: Some(raw),
            observation: None,
            received_at: Some(frame.received_at),
        }
    }

    /// The dead letter of an observation that `validate` rejected for `reason`.
    pub fn rejected(reason: RejectReason, obs: Observation) -> DeadLetter {
        DeadLetter {
            stage: "validate",
            reason_code: reason.code(),
            reason: reason.describe().to_owned(),
            source: obs.sensor_kind.as_str().to_owned(),
            id: Some(obs.id.clone()),
            pass: None,
            index: None,
            raw: None,
            received_at: obs.ingest.received_at,
            observation: Some(obs),
        }
    }
}
