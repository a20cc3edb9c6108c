//! Inter-satellite-link TCP stream: length-prefixed binary frames.
//!
//! ```text
//! frame   := length:u32 (big-endian, payload bytes, 1..=MAX_FRAME_LEN) payload
//! payload := version:u8 (=1) type:u8 body
//!
//! type 0, heartbeat (payload 4 bytes)
//!      2   2 satellite_id  u16
//!
//! type 1, state vector (payload 72 bytes)
//!      2   2 satellite_id  u16   reporting satellite
//!      4   4 sequence      u32   per-satellite counter
//!      8   8 epoch_us      i64   UTC microseconds since the Unix epoch
//!     16   4 object_id     u32   NORAD number, 0 = unknown
//!     20  24 position_m    3×f64 TEME x, y, z
//!     44  24 velocity_mps  3×f64 TEME vx, vy, vz
//!     68   4 sigma_m       f32   one-sigma position uncertainty
//! ```
//!
//! All integers and floats are big-endian. TCP already protects the bytes, so frames carry no
//! checksum; what the decoder must defend against is a peer that lies about lengths.

use bytes::{Buf, BufMut, BytesMut};
use thiserror::Error;

/// Largest payload a peer may announce.
///
/// A length prefix above this is rejected before anything is buffered, so a hostile or broken
/// peer can make the decoder hold at most `4 + MAX_FRAME_LEN` bytes per connection.
pub const MAX_FRAME_LEN: usize = 1024;
/// Bytes in the length prefix.
pub const PREFIX_LEN: usize = 4;
/// The only payload version this decoder understands.
pub const VERSION: u8 = 1;

const TYPE_HEARTBEAT: u8 = 0;
const TYPE_STATE: u8 = 1;
const HEARTBEAT_LEN: usize = 4;
const STATE_LEN: usize = 72;

/// One state vector reported over the link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IslRecord {
    /// Reporting satellite.
    pub satellite_id: u16,
    /// Per-satellite sequence number.
    pub sequence: u32,
    /// UTC microseconds since the Unix epoch.
    pub epoch_us: i64,
    /// NORAD number of the tracked object, if known (encoded as 0 when unknown).
    pub object_id: Option<u32>,
    /// TEME position, metres.
    pub position_m: [f64; 3],
    /// TEME velocity, metres per second.
    pub velocity_mps: [f64; 3],
    /// One-sigma position uncertainty, metres.
    pub sigma_m: f32,
}

/// One frame on the link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IslFrame {
    /// Keep-alive; carries no observation.
    Heartbeat {
        /// Reporting satellite.
        satellite_id: u16,
    },
    /// A tracked object's state.
    State(IslRecord),
}

/// Why the ISL stream could not be decoded.
///
/// After any error other than [`IslError::Io`] the stream is out of step and the connection
/// must be dropped: there is no resynchronisation marker.
#[derive(Debug, Error)]
pub enum IslError {
    /// A length prefix of zero.
    #[error("empty isl frame")]
    EmptyFrame,
    /// A length prefix above [`MAX_FRAME_LEN`].
    #[error("isl frame length {len} exceeds the maximum {MAX_FRAME_LEN}")]
    FrameTooLarge {
        /// The announced length.
        len: u32,
    },
    /// A payload version other than [`VERSION`].
    #[error("unsupported isl payload version {0}")]
    UnsupportedVersion(u8),
    /// A payload type this decoder does not know.
    #[error("unknown isl frame type {0}")]
    UnknownType(u8),
    /// The length prefix disagrees with the payload type's fixed size.
    #[error("isl frame of type {frame_type} has length {len}, expected {expected}")]
    BadLength {
        /// Payload type.
        frame_type: u8,
        /// Announced length.
        len: usize,
        /// Length that type requires.
        expected: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("isl stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes left over.
        buffered: usize,
    },
    /// The transport failed.
    #[error("isl transport error")]
    Io(#[from] std::io::Error),
}

impl IslError {
    /// Stable snake_case code for metrics and the dead-letter sink.
    pub fn code(&self) -> &'static str {
        match self {
            IslError::EmptyFrame => "empty_frame",
            IslError::FrameTooLarge { .. } => "frame_too_large",
            IslError::UnsupportedVersion(_) => "unsupported_version",
            IslError::UnknownType(_) => "unknown_type",
            IslError::BadLength { .. } => "bad_length",
            IslError::Truncated { .. } => "truncated",
            IslError::Io(_) => "io",
        }
    }
}

impl IslFrame {
    /// Encodes the frame, length prefix included.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::wire::isl::{IslCodec, IslFrame};
    ///
    /// let frame = IslFrame::Heartbeat { satellite_id: 9 };
    /// let mut buf = bytes::BytesMut::from(&frame.encode()[..]);
    /// assert_eq!(IslCodec.decode(&mut buf)?, Some(frame));
    /// # Ok::<(), sda_ingest_core::wire::isl::IslError>(())
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::with_capacity(PREFIX_LEN + STATE_LEN);
        self.encode_into(&mut buf);
        buf.to_vec()
    }

    /// Appends the encoded frame, length prefix included, to `dst`.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        match self {
            IslFrame::Heartbeat { satellite_id } => {
                dst.put_u32(HEARTBEAT_LEN as u32);
                dst.put_u8(VERSION);
                dst.put_u8(TYPE_HEARTBEAT);
                dst.put_u16(*satellite_id);
            }
            IslFrame::State(rec) => {
                dst.put_u32(STATE_LEN as u32);
                dst.put_u8(VERSION);
                dst.put_u8(TYPE_STATE);
                dst.put_u16(rec.satellite_id);
                dst.put_u32(rec.sequence);
                dst.put_i64(rec.epoch_us);
                dst.put_u32(rec.object_id.unwrap_or(0));
                for v in rec.position_m.iter().chain(&rec.velocity_mps) {
                    dst.put_f64(*v);
                }
                dst.put_f32(rec.sigma_m);
            }
        }
    }

    /// Decodes one payload (the bytes after the length prefix).
    fn decode_payload(mut p: &[u8]) -> Result<Self, IslError> {
        let len = p.len();
        if len < 2 {
            // Both known types are longer; report against the heartbeat, the shortest.
            return Err(IslError::BadLength {
                frame_type: 0,
                len,
                expected: HEARTBEAT_LEN,
            });
        }
        let version = p.get_u8();
        if version != VERSION {
            return Err(IslError::UnsupportedVersion(version));
        }
        let frame_type = p.get_u8();
        let expected = match frame_type {
            TYPE_HEARTBEAT => HEARTBEAT_LEN,
            TYPE_STATE => STATE_LEN,
            other => return Err(IslError::UnknownType(other)),
        };
        if len != expected {
            return Err(IslError::BadLength {
                frame_type,
                len,
                expected,
            });
        }
        // The length check above guarantees every `get_*` below has its bytes.
        let satellite_id = p.get_u16();
        if frame_type == TYPE_HEARTBEAT {
            return Ok(IslFrame::Heartbeat { satellite_id });
        }
        let sequence = p.get_u32();
        let epoch_us = p.get_i64();
        let object_id = Some(p.get_u32()).filter(|id| *id != 0);
        let position_m = [p.get_f64(), p.get_f64(), p.get_f64()];
        let velocity_mps = [p.get_f64(), p.get_f64(), p.get_f64()];
        let sigma_m = p.get_f32();
        Ok(IslFrame::State(IslRecord {
            satellite_id,
            sequence,
            epoch_us,
            object_id,
            position_m,
            velocity_mps,
            sigma_m,
        }))
    }
}

/// What [`split_frame`] found at the front of a stream buffer.
#[derive(Debug)]
pub enum Split {
    /// A whole frame, length prefix included, taken off the buffer. Its length prefix is sane;
    /// its payload is not checked here (decoding does that), so a bad payload costs only this
    /// frame and the stream stays in step.
    Frame(BytesMut),
    /// The buffer does not hold a whole frame yet.
    Incomplete,
    /// The length prefix cannot be trusted ([`IslError::EmptyFrame`] or
    /// [`IslError::FrameTooLarge`]): nothing was taken, and the stream is out of step for good,
    /// since the format has no resynchronisation marker.
    OutOfStep(IslError),
}

/// Splits the first frame off a stream buffer by its length prefix, without decoding it: the
/// framing rule of the ISL stream, for transports.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use sda_ingest_core::wire::isl::{IslFrame, Split, split_frame};
///
/// let frame = IslFrame::Heartbeat { satellite_id: 1 }.encode();
/// let mut buf = BytesMut::from(&[&frame[..], &frame[..3]].concat()[..]);
/// assert!(matches!(split_frame(&mut buf), Split::Frame(f) if f[..] == frame[..]));
/// assert!(matches!(split_frame(&mut buf), Split::Incomplete));
/// let mut bad = BytesMut::from(&[0u8, 0, 0, 0][..]);
/// assert!(matches!(split_frame(&mut bad), Split::OutOfStep(e) if e.code() == "empty_frame"));
/// ```
pub fn split_frame(buf: &mut BytesMut) -> Split {
    let Some(prefix) = buf.get(..PREFIX_LEN) else {
        return Split::Incomplete;
    };
    let announced = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let len = announced as usize;
    if len == 0 {
        return Split::OutOfStep(IslError::EmptyFrame);
    }
    if len > MAX_FRAME_LEN {
        return Split::OutOfStep(IslError::FrameTooLarge { len: announced });
    }
    if buf.len() < PREFIX_LEN + len {
        buf.reserve(PREFIX_LEN + len - buf.len());
        return Split::Incomplete;
    }
    Split::Frame(buf.split_to(PREFIX_LEN + len))
}

/// The ISL stream decoder: splits a byte stream into frames.
///
/// It is stateless: every call re-reads the length prefix, which costs four bytes of parsing
/// and keeps it trivially correct across partial reads. A transport drives it over its own
/// read buffer (the service's TCP reader does), which is why it is a plain type and not tied
/// to an async framework's codec trait.
#[derive(Debug, Clone, Copy, Default)]
pub struct IslCodec;

impl IslCodec {
    /// Decodes the first complete frame of `src`, removing its bytes; `Ok(None)` when `src`
    /// does not hold a whole frame yet (room for it is reserved, up to [`MAX_FRAME_LEN`]).
    ///
    /// # Errors
    ///
    /// [`IslError::EmptyFrame`] and [`IslError::FrameTooLarge`] for a length prefix that
    /// cannot be trusted (nothing is consumed: the stream is out of step); for a frame whose
    /// length prefix is sane but whose payload is not a known frame
    /// ([`IslError::UnsupportedVersion`], [`IslError::UnknownType`], [`IslError::BadLength`]),
    /// the frame's bytes are consumed, so the stream stays in step and the next call decodes
    /// the next frame.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<IslFrame>, IslError> {
        let Some(prefix) = src.get(..PREFIX_LEN) else {
            return Ok(None);
        };
        let announced = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let len = announced as usize;
        if len == 0 {
            return Err(IslError::EmptyFrame);
        }
        if len > MAX_FRAME_LEN {
            // Checked before reserving: the peer's number never sizes an allocation.
            return Err(IslError::FrameTooLarge { len: announced });
        }
        if src.len() < PREFIX_LEN + len {
            src.reserve(PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        let payload = src.split_to(len);
        IslFrame::decode_payload(&payload).map(Some)
    }

    /// As [`decode`](IslCodec::decode), at the end of the stream: bytes left over that do not
    /// make a whole frame are an error.
    ///
    /// # Errors
    ///
    /// As [`decode`](IslCodec::decode), and [`IslError::Truncated`] for a partial frame.
    pub fn decode_eof(&self, src: &mut BytesMut) -> Result<Option<IslFrame>, IslError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(IslError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> IslFrame {
        IslFrame::State(IslRecord {
            satellite_id: 2,
            sequence: 99,
            epoch_us: 1_704_067_260_000_000,
            object_id: Some(40001),
            position_m: [6_778_000.0, -12.5, 1_000.25],
            velocity_mps: [1.0, 7_650.0, -3.5],
            sigma_m: 25.0,
        })
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<IslFrame>, IslError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = IslCodec.decode_eof(&mut buf)? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn round_trip_through_the_codec() {
        let frames = [sample(), IslFrame::Heartbeat { satellite_id: 2 }, sample()];
        let mut buf = BytesMut::new();
        for f in frames {
            f.encode_into(&mut buf);
        }
        assert_eq!(decode_all(&buf).unwrap(), frames);
    }

    #[test]
    fn partial_input_waits_for_more() {
        let bytes = sample().encode();
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.put_u8(*b);
            let got = IslCodec.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i + 1 == bytes.len());
        }
    }

    #[test]
    fn truncated_stream_errors_at_eof() {
        let bytes = sample().encode();
        let err = decode_all(&bytes[..40]).unwrap_err();
        assert!(matches!(err, IslError::Truncated { buffered: 40 }), "{err}");
        assert_eq!(err.code(), "truncated");
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        let mut buf = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 1][..]);
        let before = buf.capacity();
        let err = IslCodec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, IslError::FrameTooLarge { len: u32::MAX }),
            "{err}"
        );
        assert_eq!(buf.capacity(), before);
        let just_over = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        let err = IslCodec
            .decode(&mut BytesMut::from(&just_over[..]))
            .unwrap_err();
        assert_eq!(err.code(), "frame_too_large");
    }

    #[test]
    fn bad_length_prefix_is_rejected() {
        // A state payload announced as 10 bytes long.
        let mut bytes = sample().encode();
        bytes[..4].copy_from_slice(&10u32.to_be_bytes());
        let err = decode_all(&bytes[..14]).unwrap_err();
        assert!(matches!(
            err,
            IslError::BadLength {
                frame_type: 1,
                len: 10,
                expected: 72
            }
        ));
        let err = decode_all(&[0, 0, 0, 0]).unwrap_err();
        assert!(matches!(err, IslError::EmptyFrame));
        let err = decode_all(&[0, 0, 0, 1, 1]).unwrap_err();
        assert!(matches!(err, IslError::BadLength { len: 1, .. }));
    }

    #[test]
    fn bad_version_and_type() {
        let err = decode_all(&[0, 0, 0, 4, 9, 0, 0, 1]).unwrap_err();
        assert!(matches!(err, IslError::UnsupportedVersion(9)));
        let err = decode_all(&[0, 0, 0, 4, 1, 7, 0, 1]).unwrap_err();
        assert!(matches!(err, IslError::UnknownType(7)));
    }

    fn frame() -> impl Strategy<Value = IslFrame> {
        let state = (
            (
                any::<u16>(),
                any::<u32>(),
                any::<i64>(),
                proptest::option::of(1u32..),
            ),
            (any::<[f64; 3]>(), any::<[f64; 3]>(), any::<f32>()),
        )
            .prop_map(
                |((satellite_id, sequence, epoch_us, object_id), (p, v, s))| {
                    IslFrame::State(IslRecord {
                        satellite_id,
                        sequence,
                        epoch_us,
                        object_id,
                        position_m: p,
                        velocity_mps: v,
                        sigma_m: s,
                    })
                },
            );
        prop_oneof![
            any::<u16>().prop_map(|satellite_id| IslFrame::Heartbeat { satellite_id }),
            state
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_all(&data);
        }

        #[test]
        fn encode_decode_is_identity(frames in proptest::collection::vec(frame(), 1..5)) {
            let bytes: Vec<u8> = frames.iter().flat_map(IslFrame::encode).collect();
            let decoded = decode_all(&bytes).unwrap();
            // Compare re-encodings so NaN payloads count as equal when their bits are.
            let again: Vec<u8> = decoded.iter().flat_map(IslFrame::encode).collect();
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn truncation_always_errors(f in frame(), cut in 1usize..76) {
            let bytes = f.encode();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(decode_all(&bytes[..cut]).is_err());
        }
    }
}
