//! The raw frame every source emits: the unit shared by the in-process simulator and the
//! network transports.

use std::sync::Arc;

use bytes::Bytes;

use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::WireFormat;

use super::origin::{Origin, Scope};

/// Bytes as a source received them, before any decoding.
///
/// Every transport — the in-process replay, the UDP radar listener, the TCP ISL reader and the
/// HTTP optical poller — produces this one type, so the rest of the pipeline
/// does not change when a source does. A stream transport (ISL over TCP) splits its stream into
/// frames before sending them on; decoding is left to `normalize` so that a bad frame becomes a
/// dead letter with the decoder's reason code, not a source error.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// The source vertex that received it (`radar`, `isl`, …).
    pub source: Arc<str>,
    /// Which sensor stream it belongs to.
    pub kind: SensorKind,
    /// How to decode it.
    pub format: WireFormat,
    /// Which replay of the stream it came from (0 for the first; always 0 for live sources).
    pub pass: u32,
    /// Position in the source's message list within the pass (a live source counts frames).
    pub index: usize,
    /// Whether `pass` and `index` name the same message in another run (a replayable source)
    /// or only in this process (a live transport): what its dead letters' ids are scoped to.
    pub scope: Scope,
    /// The source's own position of the message, when it has one: the optical archive's page
    /// cursor, so that a bad record can be found again where it came from.
    pub cursor: Option<Arc<str>>,
    /// The bytes, cheap to clone.
    pub bytes: Bytes,
    /// When the source received it: UTC seconds since the Unix epoch.
    pub received_at: f64,
}

impl RawFrame {
    /// The position of the `observation`-th record decoded from this frame.
    pub fn origin(&self, observation: usize) -> Origin {
        Origin {
            scope: self.scope,
            pass: self.pass,
            index: self.index as u64,
            observation: u32::try_from(observation).unwrap_or(u32::MAX),
        }
    }
}

/// The current UTC time as seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
