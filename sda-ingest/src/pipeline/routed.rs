//! The item type of the stages that can reject: an accepted observation or a dead letter.
//!
//! **Why this exists (interim).** An operator has one output type, and the orchestrator's
//! fan-out delivers every item to every outgoing edge; there is no per-edge routing yet. So
//! `normalize` and `validate` each send [`Routed`] items to two edges — the next stage and the
//! dead-letter sink — and each consumer keeps only its half: the next stage ignores
//! [`Routed::DeadLetter`], the dead-letter sink ignores [`Routed::Accepted`]. When the
//! orchestrator gains per-edge routing, this enum becomes two typed ports and the filtering
//! goes away.

use std::sync::Arc;

use serde::Serialize;

use crate::observation::Observation;

/// One item out of `normalize` or `validate`.
#[derive(Debug, Clone)]
pub enum Routed {
    /// An observation that goes on to the next stage.
    Accepted(Arc<Observation>),
    /// A record that goes to the dead-letter sink.
    DeadLetter(Arc<DeadLetter>),
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
