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

use sda_ingest_core::process::validate::RejectReason;
use sda_ingest_core::wire::Failure;
use sda_ingest_core::{Observation, SensorKind};

use super::frame::RawFrame;
use super::origin::{Origin, Part};

/// The reason code of a record that arrived after its event-time window closed.
pub const LATE: &str = "late";

/// One item out of `normalize` or `validate`.
#[derive(Debug, Clone)]
pub enum Routed {
    /// An observation that goes on to the next stage, with its position in its source (which
    /// names its dead letter, should `validate` reject it).
    Accepted(Arc<Observation>, Origin),
    /// A record that goes to the dead-letter sink.
    DeadLetter(Arc<DeadLetter>),
}

impl Routed {
    /// Whether this is an accepted observation: the filter of the edges to the next stage.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Routed::Accepted(..))
    }

    /// Whether this is a dead letter: the filter of the edges to the dead-letter sink.
    pub fn is_dead_letter(&self) -> bool {
        matches!(self, Routed::DeadLetter(_))
    }
}

/// A record the pipeline could not use, as written to `dead_letter.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Names the input it came from, the same when that input is read again after a crash (see
    /// [`origin`](super::origin)): the dead-letter file is continued idempotently by it.
    pub dead_letter_id: String,
    /// The stage that rejected it: `normalize` (decoding) or `validate`.
    pub stage: &'static str,
    /// The stable reason code: the decoder's `code()` or the validation reason's.
    pub reason_code: &'static str,
    /// Human-readable reason.
    pub reason: String,
    /// The source stream it came from (the source vertex, named after its sensor kind).
    pub source: SensorKind,
    /// Observation id, when decoding got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Replay pass of the raw frame (decode failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<u32>,
    /// Position of the raw frame in its stream (decode failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The position of the failed record in its message, when only that record of a
    /// many-record message failed (an optical page's record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    /// The source's own position of the message, when it has one (an optical page's cursor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// How many bytes `raw` stands for (decode failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    /// The raw bytes (decode failures only): hex for binary formats, text for JSON ones; for a
    /// failed record of a page, that record's text.
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
    /// The dead letter of what `normalize` could not decode in `frame`: the whole frame (its
    /// raw bytes, hex for the binary formats, text for the JSON ones), or one record of it.
    pub fn undecodable(frame: &RawFrame, failure: Failure) -> DeadLetter {
        let (raw, bytes) = match failure.raw {
            Some(text) => {
                let len = text.len();
                (text, len)
            }
            None if frame.format.is_binary() => (
                frame.bytes.iter().fold(
                    String::with_capacity(frame.bytes.len() * 2),
                    |mut s, b| {
                        let _ = write!(s, "{b:02x}");
                        s
                    },
                ),
                frame.bytes.len(),
            ),
            None => (
                String::from_utf8_lossy(&frame.bytes).into_owned(),
                frame.bytes.len(),
            ),
        };
        let part = failure.record.map_or(Part::Message, Part::Record);
        DeadLetter {
            dead_letter_id: frame.origin(0).dead_letter_id(frame.kind, part),
            stage: "normalize",
            reason_code: failure.error.code(),
            reason: failure.error.to_string(),
            source: frame.kind,
            id: None,
            pass: Some(frame.pass),
            index: Some(frame.index),
            record: failure.record,
            cursor: frame.cursor.as_deref().map(str::to_owned),
            bytes: Some(bytes),
            raw: Some(raw),
            observation: None,
            received_at: Some(frame.received_at),
        }
    }

    /// The dead letter of a valid observation, from `origin`, that arrived after its
    /// event-time window had closed under the watermark `watermark_s` (reason code `late`).
    pub fn late(
        obs: Observation,
        origin: Origin,
        watermark_s: f64,
        windows: &sda_ingest_core::process::event_time::EventTimeConfig,
    ) -> DeadLetter {
        let end = windows.window_end(windows.window_of(obs.epoch));
        let reason = format!(
            "arrived after its event-time window closed: the window ends at {end}, the \
             watermark is {watermark_s} and the allowed lateness {} s",
            windows.allowed_lateness_s
        );
        DeadLetter::of_observation(LATE, reason, obs, origin)
    }

    /// The dead letter of an observation, from `origin`, that `validate` rejected for
    /// `reason`.
    pub fn rejected(reason: RejectReason, obs: Observation, origin: Origin) -> DeadLetter {
        DeadLetter::of_observation(reason.code(), reason.describe().to_owned(), obs, origin)
    }

    /// A dead letter of `validate`'s for a decoded observation: no raw bytes, the observation
    /// itself kept.
    fn of_observation(
        reason_code: &'static str,
        reason: String,
        obs: Observation,
        origin: Origin,
    ) -> DeadLetter {
        let source = super::sinks::source_of(&obs);
        DeadLetter {
            dead_letter_id: origin.dead_letter_id(source, Part::Observation),
            stage: "validate",
            reason_code,
            reason,
            source,
            id: Some(obs.id.clone()),
            pass: None,
            index: None,
            record: None,
            cursor: None,
            bytes: None,
            raw: None,
            received_at: obs.ingest.received_at,
            observation: Some(obs),
        }
    }
}

#[cfg(test)]
impl DeadLetter {
    /// A dead letter from `normalize` with `id`, `source` and `reason_code` and nothing else:
    /// for tests of the sinks, which read only those.
    pub(crate) fn bare(id: &str, source: SensorKind, reason_code: &'static str) -> DeadLetter {
        DeadLetter {
            dead_letter_id: id.into(),
            stage: "normalize",
            reason_code,
            reason: String::new(),
            source,
            id: None,
            pass: None,
            index: None,
            record: None,
            cursor: None,
            bytes: None,
            raw: None,
            observation: None,
            received_at: None,
        }
    }
}
