//! The raw frame every source emits: the unit shared by the in-process simulator and the
//! network transports.

use std::sync::Arc;

use bytes::Bytes;

use crate::observation::SensorKind;

/// How a frame's bytes are laid out, which picks the decoder in `normalize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// One 64-byte radar datagram.
    Radar,
    /// One length-prefixed ISL frame (prefix included); heartbeats carry no record.
    Isl,
    /// One optical archive page, carrying many records.
    OpticalPage,
    /// One synthetic-sensor JSON record.
    Synthetic,
}

impl WireFormat {
    /// The format a sensor kind's stream uses.
    pub fn for_kind(kind: SensorKind) -> WireFormat {
        match kind {
            SensorKind::Radar => WireFormat::Radar,
            SensorKind::Isl => WireFormat::Isl,
            SensorKind::Optical => WireFormat::OpticalPage,
            _ => WireFormat::Synthetic,
        }
    }
}

/// Bytes as a source received them, before any decoding.
///
/// Every transport — the in-process simulator, the UDP radar listener and the TCP ISL reader
/// (and, later, the HTTP optical poller) — produces this one type, so the rest of the pipeline
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
    /// The bytes, cheap to clone.
    pub bytes: Bytes,
    /// When the source received it: UTC seconds since the Unix epoch.
    pub received_at: f64,
}

/// The current UTC time as seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
