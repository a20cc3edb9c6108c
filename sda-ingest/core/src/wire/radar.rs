//! Radar UDP datagrams: one fixed-size, big-endian, CRC-protected track point per datagram.
//!
//! ```text
//! offset len field            type  notes
//!      0   4 magic            [u8]  "SDAR" (53 44 41 52)
//!      4   1 version          u8    1
//!      5   1 flags            u8    bit 0: range rate valid, bit 1: object id valid, others 0
//!      6   2 sensor_id        u16
//!      8   4 sequence         u32   per-sensor counter
//!     12   8 epoch_us         i64   UTC microseconds since the Unix epoch
//!     20   4 object_id        u32   NORAD number, meaningful only with flag bit 1
//!     24   8 range_m          f64
//!     32   8 az_rad           f64
//!     40   8 el_rad           f64
//!     48   8 range_rate_mps   f64   meaningful only with flag bit 0
//!     56   4 snr_db           f32
//!     60   4 crc32            u32   CRC-32/ISO-HDLC of bytes 0..60
//! ```
//!
//! Datagrams are fixed-size so a receiver can size its buffer once ([`MAX_DATAGRAM_LEN`]) and
//! reject anything else without parsing it.

use thiserror::Error;

use super::crc::crc32;

/// The four magic bytes that open every radar datagram.
pub const MAGIC: [u8; 4] = *b"SDAR";
/// The only wire version this decoder understands.
pub const VERSION: u8 = 1;
/// Exact length of a version-1 datagram.
pub const DATAGRAM_LEN: usize = 64;
/// Receive-buffer size for the radar socket.
///
/// Larger than [`DATAGRAM_LEN`] on purpose: a longer datagram then arrives whole and is
/// reported as [`RadarError::Oversized`] instead of being silently truncated by the kernel.
pub const MAX_DATAGRAM_LEN: usize = 512;

const FLAG_RANGE_RATE: u8 = 0b01;
const FLAG_OBJECT: u8 = 0b10;
const CRC_OFFSET: usize = DATAGRAM_LEN - 4;

/// One decoded radar track point, in the units the radar sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadarRecord {
    /// Numeric sensor id; the sensor registry maps it to a name and site.
    pub sensor_id: u16,
    /// Per-sensor sequence number.
    pub sequence: u32,
    /// UTC microseconds since the Unix epoch.
    pub epoch_us: i64,
    /// NORAD number when the radar is tracking a known object.
    pub object_id: Option<u32>,
    /// Slant range, metres.
    pub range_m: f64,
    /// Azimuth, radians.
    pub az_rad: f64,
    /// Elevation, radians.
    pub el_rad: f64,
    /// Range rate, metres per second.
    pub range_rate_mps: Option<f64>,
    /// Signal-to-noise ratio, decibels.
    pub snr_db: f32,
}

/// Why a radar datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RadarError {
    /// Fewer bytes than a whole datagram.
    #[error("truncated radar datagram: {len} bytes, expected {DATAGRAM_LEN}")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// More bytes than a whole datagram.
    #[error("oversized radar datagram: {len} bytes, expected {DATAGRAM_LEN}")]
    Oversized {
        /// Bytes received.
        len: usize,
    },
    /// The datagram does not start with [`MAGIC`].
    #[error("bad radar magic {found:02x?}")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version other than [`VERSION`].
    #[error("unsupported radar version {0}")]
    UnsupportedVersion(u8),
    /// The CRC trailer does not match the content.
    #[error("bad radar checksum: computed {computed:#010x}, datagram carries {found:#010x}")]
    BadChecksum {
        /// CRC computed over bytes 0..60.
        computed: u32,
        /// CRC carried in the trailer.
        found: u32,
    },
    /// Flag bits that version 1 does not define are set.
    #[error("reserved radar flag bits set in {0:#04x}")]
    ReservedFlags(u8),
}

impl RadarError {
    /// Stable snake_case code for metrics and the dead-letter sink.
    pub fn code(&self) -> &'static str {
        match self {
            RadarError::Truncated { .. } => "truncated",
            RadarError::Oversized { .. } => "oversized",
            RadarError::BadMagic { .. } => "bad_magic",
            RadarError::UnsupportedVersion(_) => "unsupported_version",
            RadarError::BadChecksum { .. } => "bad_checksum",
            RadarError::ReservedFlags(_) => "reserved_flags",
        }
    }
}

impl RadarRecord {
    /// Encodes the record as one datagram.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::wire::radar::{RadarRecord, DATAGRAM_LEN};
    ///
    /// let rec = RadarRecord {
    ///     sensor_id: 1, sequence: 7, epoch_us: 1_704_067_200_000_000, object_id: Some(25544),
    ///     range_m: 812_000.0, az_rad: 1.2, el_rad: 0.4, range_rate_mps: None, snr_db: 18.5,
    /// };
    /// let bytes = rec.encode();
    /// assert_eq!(bytes.len(), DATAGRAM_LEN);
    /// assert_eq!(RadarRecord::decode(&bytes), Ok(rec));
    /// ```
    pub fn encode(&self) -> [u8; DATAGRAM_LEN] {
        let mut buf = [0u8; DATAGRAM_LEN];
        let mut flags = 0;
        if self.range_rate_mps.is_some() {
            flags |= FLAG_RANGE_RATE;
        }
        if self.object_id.is_some() {
            flags |= FLAG_OBJECT;
        }
        buf[0..4].copy_from_slice(&MAGIC);
        buf[4] = VERSION;
        buf[5] = flags;
        buf[6..8].copy_from_slice(&self.sensor_id.to_be_bytes());
        buf[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        buf[12..20].copy_from_slice(&self.epoch_us.to_be_bytes());
        buf[20..24].copy_from_slice(&self.object_id.unwrap_or(0).to_be_bytes());
        buf[24..32].copy_from_slice(&self.range_m.to_be_bytes());
        buf[32..40].copy_from_slice(&self.az_rad.to_be_bytes());
        buf[40..48].copy_from_slice(&self.el_rad.to_be_bytes());
        buf[48..56].copy_from_slice(&self.range_rate_mps.unwrap_or(0.0).to_be_bytes());
        buf[56..60].copy_from_slice(&self.snr_db.to_be_bytes());
        let crc = crc32(&buf[..CRC_OFFSET]);
        buf[CRC_OFFSET..].copy_from_slice(&crc.to_be_bytes());
        buf
    }

    /// Decodes one datagram.
    ///
    /// Checks run cheapest first (length, magic, version, CRC, flags) so garbage is turned away
    /// before any field is read. Measurement values are returned as sent, NaN included: judging
    /// them is validation's job, which can report the reason with the record's id.
    ///
    /// # Errors
    ///
    /// Any [`RadarError`]; this function never panics, whatever the input.
    pub fn decode(data: &[u8]) -> Result<Self, RadarError> {
        let buf: &[u8; DATAGRAM_LEN] = match data.len() {
            len if len < DATAGRAM_LEN => return Err(RadarError::Truncated { len }),
            len if len > DATAGRAM_LEN => return Err(RadarError::Oversized { len }),
            len => data.try_into().map_err(|_| RadarError::Truncated { len })?,
        };
        let magic: [u8; 4] = field(buf, 0);
        if magic != MAGIC {
            return Err(RadarError::BadMagic { found: magic });
        }
        if buf[4] != VERSION {
            return Err(RadarError::UnsupportedVersion(buf[4]));
        }
        let found = u32::from_be_bytes(field(buf, CRC_OFFSET));
        let computed = crc32(&buf[..CRC_OFFSET]);
        if found != computed {
            return Err(RadarError::BadChecksum { computed, found });
        }
        let flags = buf[5];
        if flags & !(FLAG_RANGE_RATE | FLAG_OBJECT) != 0 {
            return Err(RadarError::ReservedFlags(flags));
        }
        let f64_at = |at| f64::from_be_bytes(field(buf, at));
        Ok(RadarRecord {
            sensor_id: u16::from_be_bytes(field(buf, 6)),
            sequence: u32::from_be_bytes(field(buf, 8)),
            epoch_us: i64::from_be_bytes(field(buf, 12)),
            object_id: (flags & FLAG_OBJECT != 0).then(|| u32::from_be_bytes(field(buf, 20))),
            range_m: f64_at(24),
            az_rad: f64_at(32),
            el_rad: f64_at(40),
            range_rate_mps: (flags & FLAG_RANGE_RATE != 0).then(|| f64_at(48)),
            snr_db: f32::from_be_bytes(field(buf, 56)),
        })
    }
}

/// Copies `N` bytes at `at` out of a whole datagram; every call site uses a constant offset
/// inside the fixed layout, so the slice is always in bounds.
fn field<const N: usize>(buf: &[u8; DATAGRAM_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> RadarRecord {
        RadarRecord {
            sensor_id: 3,
            sequence: 42,
            epoch_us: 1_704_067_200_250_000,
            object_id: Some(25544),
            range_m: 812_345.5,
            az_rad: 1.25,
            el_rad: 0.5,
            range_rate_mps: Some(-1234.5),
            snr_db: 17.25,
        }
    }

    #[test]
    fn round_trip() {
        let rec = sample();
        assert_eq!(RadarRecord::decode(&rec.encode()), Ok(rec));
        let bare = RadarRecord {
            object_id: None,
            range_rate_mps: None,
            ..rec
        };
        assert_eq!(RadarRecord::decode(&bare.encode()), Ok(bare));
    }

    #[test]
    fn truncated() {
        let bytes = sample().encode();
        assert_eq!(
            RadarRecord::decode(&bytes[..63]),
            Err(RadarError::Truncated { len: 63 })
        );
        assert_eq!(
            RadarRecord::decode(&[]),
            Err(RadarError::Truncated { len: 0 })
        );
    }

    #[test]
    fn oversized() {
        let mut bytes = sample().encode().to_vec();
        bytes.push(0);
        assert_eq!(
            RadarRecord::decode(&bytes),
            Err(RadarError::Oversized { len: 65 })
        );
    }

    #[test]
    fn bad_magic() {
        let mut bytes = sample().encode();
        bytes[0] = b'X';
        let err = RadarRecord::decode(&bytes).unwrap_err();
        assert_eq!(err, RadarError::BadMagic { found: *b"XDAR" });
        assert_eq!(err.code(), "bad_magic");
    }

    #[test]
    fn bad_version() {
        let mut bytes = sample().encode();
        bytes[4] = 2;
        assert_eq!(
            RadarRecord::decode(&bytes),
            Err(RadarError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn bad_checksum() {
        let mut bytes = sample().encode();
        bytes[30] ^= 0x01;
        let err = RadarRecord::decode(&bytes).unwrap_err();
        assert!(matches!(err, RadarError::BadChecksum { .. }), "{err}");
        assert_eq!(err.code(), "bad_checksum");
    }

    #[test]
    fn reserved_flags() {
        let mut bytes = sample().encode();
        bytes[5] |= 0x80;
        let crc = crc32(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            RadarRecord::decode(&bytes),
            Err(RadarError::ReservedFlags(0x83))
        );
    }

    #[test]
    fn layout_matches_the_documented_hex_dump() {
        // The README shows this exact datagram; keep the two in step.
        let rec = RadarRecord {
            sensor_id: 1,
            sequence: 7,
            epoch_us: 1_704_067_200_000_000,
            object_id: Some(25544),
            range_m: 812_000.0,
            az_rad: 1.5,
            el_rad: 0.25,
            range_rate_mps: Some(-1500.0),
            snr_db: 18.5,
        };
        let hex: String = rec.encode().iter().map(|b| format!("{b:02x}")).collect();
        // Produced independently with Python's `struct.pack(">4sBBHIqIddddf")` and `zlib.crc32`.
        assert_eq!(
            hex,
            "53444152010300010000000700060dd710212000000063c84128c7c000000000\
             3ff80000000000003fd0000000000000c0977000000000004194000078a8efd6"
        );
    }

    fn record() -> impl Strategy<Value = RadarRecord> {
        (
            (
                any::<u16>(),
                any::<u32>(),
                any::<i64>(),
                any::<Option<u32>>(),
            ),
            (
                any::<f64>(),
                any::<f64>(),
                any::<f64>(),
                any::<Option<f64>>(),
                any::<f32>(),
            ),
        )
            .prop_map(
                |((sensor_id, sequence, epoch_us, object_id), (r, az, el, rr, snr))| RadarRecord {
                    sensor_id,
                    sequence,
                    epoch_us,
                    object_id,
                    range_m: r,
                    az_rad: az,
                    el_rad: el,
                    range_rate_mps: rr,
                    snr_db: snr,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RadarRecord::decode(&data);
        }

        #[test]
        fn encode_decode_is_identity(rec in record()) {
            // Compare encodings rather than records: NaN != NaN, but the bits must survive.
            let decoded = RadarRecord::decode(&rec.encode()).unwrap();
            prop_assert_eq!(decoded.encode(), rec.encode());
        }

        #[test]
        fn truncation_always_errors(rec in record(), cut in 0usize..DATAGRAM_LEN) {
            let bytes = rec.encode();
            prop_assert_eq!(
                RadarRecord::decode(&bytes[..cut]),
                Err(RadarError::Truncated { len: cut })
            );
        }

        #[test]
        fn any_single_bit_flip_is_detected(rec in record(), bit in 0usize..(DATAGRAM_LEN * 8)) {
            let mut bytes = rec.encode();
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(RadarRecord::decode(&bytes).is_err());
        }
    }
}
