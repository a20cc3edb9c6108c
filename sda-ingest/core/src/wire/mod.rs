//! Wire decoders, one module per source format, and [`decode`]: the one place that picks the
//! decoder for a message.
//!
//! Every decoder takes untrusted bytes, never panics, bounds what it will buffer or parse by a
//! documented maximum, and reports failures as a typed error with a stable snake_case
//! [`code`](WireError::code) for metrics and the dead-letter sink. Every format also has an
//! encoder, used by the simulator and by the round-trip tests.

mod crc;
pub mod isl;
pub mod optical;
pub mod radar;
pub mod synthetic;

use bytes::BytesMut;
use thiserror::Error;

use crate::observation::SensorKind;
use isl::{IslCodec, IslFrame, IslRecord};
use optical::{OpticalPage, OpticalRecord};
use radar::RadarRecord;
use synthetic::SyntheticRecord;

/// How a message's bytes are laid out, which picks its decoder.
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

    /// Whether the format is binary (its raw bytes are shown as hex) rather than text.
    pub fn is_binary(self) -> bool {
        matches!(self, WireFormat::Radar | WireFormat::Isl)
    }
}

/// A decoded record from any source: what [`decode`] yields and normalisation takes.
#[derive(Debug, Clone, PartialEq)]
pub enum WireRecord {
    /// A radar datagram.
    Radar(RadarRecord),
    /// An ISL state-vector frame.
    Isl(IslRecord),
    /// One observation from an optical archive page.
    Optical(OpticalRecord),
    /// A synthetic-sensor record.
    Synthetic(SyntheticRecord),
}

/// Any wire decoding failure, with the stable code of the decoder that reported it.
#[derive(Debug, Error)]
pub enum WireError {
    /// A radar datagram failed to decode.
    #[error(transparent)]
    Radar(#[from] radar::RadarError),
    /// The ISL stream failed to decode.
    #[error(transparent)]
    Isl(#[from] isl::IslError),
    /// An optical archive page failed to decode.
    #[error(transparent)]
    Optical(#[from] optical::OpticalError),
    /// A synthetic-sensor record failed to decode.
    #[error(transparent)]
    Synthetic(#[from] synthetic::SyntheticError),
}

impl WireError {
    /// Stable snake_case code of the underlying error.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Radar(e) => e.code(),
            WireError::Isl(e) => e.code(),
            WireError::Optical(e) => e.code(),
            WireError::Synthetic(e) => e.code(),
        }
    }
}

/// What one message decoded to: its records, the heartbeats it carried, and what failed.
///
/// Every failure is one dead letter downstream. A message either fails whole (a datagram that
/// does not decode, a body that is not a page: one failure, no record) or record by record (an
/// optical page whose envelope is valid: one failure per bad record, the good ones kept).
#[derive(Debug, Default)]
pub struct Decoded {
    /// The records, in the order they were in the message.
    pub records: Vec<WireRecord>,
    /// ISL heartbeats: frames that carry no record.
    pub heartbeats: u64,
    /// What did not decode.
    pub failures: Vec<Failure>,
}

/// One part of a message that did not decode: the whole message, or one record of it.
#[derive(Debug)]
pub struct Failure {
    /// Why, with its stable code.
    pub error: WireError,
    /// The record's position in its message when only that record failed (an optical page's
    /// record); `None` when the whole message failed.
    pub record: Option<usize>,
    /// The failed record's own text when only that record failed; `None` when the whole
    /// message failed (its bytes are the message's).
    pub raw: Option<String>,
}

impl Failure {
    /// The whole message failed.
    fn whole(error: impl Into<WireError>) -> Failure {
        Failure {
            error: error.into(),
            record: None,
            raw: None,
        }
    }
}

/// Decodes one message of `format`: the one place that picks a decoder.
///
/// A radar datagram and a synthetic record are one record each; an optical page is many, decoded
/// one by one, so a bad record costs only itself; an ISL message is normally one frame, and a
/// transport that hands over several frames at once gets them all (up to the first that does not
/// decode: a stream cannot be trusted past that).
///
/// # Examples
///
/// ```
/// use sda_ingest_core::wire::{WireFormat, WireRecord, decode};
///
/// let decoded = decode(
///     WireFormat::Synthetic,
///     br#"{"sensor":"slr-1","seq":7,"epoch_us":1704067200500000,"kind":"laser_ranging","range_m":812000.0}"#,
/// );
/// assert!(decoded.failures.is_empty());
/// assert!(matches!(&decoded.records[..], [WireRecord::Synthetic(r)] if r.seq == 7));
///
/// let broken = decode(WireFormat::Radar, b"not a datagram");
/// assert!(broken.records.is_empty());
/// assert_eq!(broken.failures[0].error.code(), "truncated");
/// ```
pub fn decode(format: WireFormat, bytes: &[u8]) -> Decoded {
    let mut decoded = Decoded::default();
    match format {
        WireFormat::Radar => match RadarRecord::decode(bytes) {
            Ok(r) => decoded.records.push(WireRecord::Radar(r)),
            Err(e) => decoded.failures.push(Failure::whole(e)),
        },
        WireFormat::Synthetic => match SyntheticRecord::decode(bytes) {
            Ok(r) => decoded.records.push(WireRecord::Synthetic(r)),
            Err(e) => decoded.failures.push(Failure::whole(e)),
        },
        WireFormat::OpticalPage => match OpticalPage::decode_records(bytes) {
            Ok(page) => {
                decoded.records.extend(
                    page.records
                        .into_iter()
                        .map(|(_, record)| WireRecord::Optical(record)),
                );
                decoded
                    .failures
                    .extend(page.rejected.into_iter().map(|(error, raw)| Failure {
                        record: match &error {
                            optical::OpticalError::InvalidRecord { index, .. } => Some(*index),
                            _ => None,
                        },
                        error: error.into(),
                        raw: Some(raw),
                    }));
            }
            Err(e) => decoded.failures.push(Failure::whole(e)),
        },
        WireFormat::Isl => {
            let mut buf = BytesMut::from(bytes);
            loop {
                match IslCodec.decode_eof(&mut buf) {
                    Ok(Some(IslFrame::State(r))) => decoded.records.push(WireRecord::Isl(r)),
                    Ok(Some(IslFrame::Heartbeat { .. })) => decoded.heartbeats += 1,
                    Ok(None) => break,
                    Err(e) => {
                        decoded.failures.push(Failure::whole(e));
                        break;
                    }
                }
            }
        }
    }
    decoded
}

impl WireRecord {
    /// The record's measurement epoch, UTC Unix seconds: what its normalised observation's
    /// `epoch` will be. Sources read it to advance their event-time watermark without
    /// normalising the record themselves.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::wire::{WireFormat, decode};
    ///
    /// let decoded = decode(
    ///     WireFormat::Synthetic,
    ///     br#"{"sensor":"slr-1","seq":7,"epoch_us":1704067200500000,"kind":"laser_ranging","range_m":812000.0}"#,
    /// );
    /// assert_eq!(decoded.records[0].epoch_unix_s(), 1_704_067_200.5);
    /// ```
    pub fn epoch_unix_s(&self) -> f64 {
        let micros =
            |us: i64| us.div_euclid(1_000_000) as f64 + us.rem_euclid(1_000_000) as f64 / 1e6;
        match self {
            WireRecord::Radar(r) => micros(r.epoch_us),
            WireRecord::Isl(r) => micros(r.epoch_us),
            WireRecord::Synthetic(r) => micros(r.epoch_us),
            WireRecord::Optical(r) => {
                r.epoch.timestamp() as f64 + f64::from(r.epoch.timestamp_subsec_nanos()) / 1e9
            }
        }
    }
}

/// The latest measurement epoch of the records `bytes` (one message of `format`) holds, UTC
/// Unix seconds; `None` when no record decodes. What a source advances its watermark from.
pub fn latest_epoch(format: WireFormat, bytes: &[u8]) -> Option<f64> {
    decode(format, bytes)
        .records
        .iter()
        .map(WireRecord::epoch_unix_s)
        .filter(|e| e.is_finite())
        .reduce(f64::max)
}
