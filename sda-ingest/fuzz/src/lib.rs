//! Invariant checks for the `sda-ingest` wire decoders and normalisation.
//!
//! Each public function here is the body of one fuzz target (`fuzz_targets/<name>.rs` only calls
//! it), so the same checks also run on stable, without libFuzzer, in `tests/seeds.rs` over the
//! committed seed corpus. A violated invariant panics, which libFuzzer reports as a crash.
//!
//! The checks go beyond "does not panic":
//!
//! * error codes are non-empty snake_case, belong to the decoder's documented set, survive
//!   wrapping in [`WireError`], and the error's message is non-empty;
//! * radar and ISL results are compared with an independent reference decoder written from the
//!   documented layouts (own CRC-32), error payloads included;
//! * every decoded record re-encodes, and the encoding decodes to the same record (binary formats:
//!   byte for byte, the ignored fields aside; JSON formats: equal records and a stable encoding);
//! * the ISL codec gives the same frames and error whether the stream arrives whole or in
//!   arbitrary chunks, never reserves room for more than one maximum frame, never reserves
//!   anything on a rejected length prefix, and never leaves a whole frame's worth undecoded;
//! * normalisation keeps ids, kinds and every measurement value (bit for bit) as the module
//!   documents, and validation either accepts an observation that is all finite, in its epoch
//!   window and round-trips through the JSON sink format, or rejects it unchanged with a
//!   known, stable reason code.

use std::sync::OnceLock;

use bytes::BytesMut;
use sda_ingest_core::process::normalize::{normalize, synthetic_measurement};
use sda_ingest_core::process::validate::{RejectReason, ValidationPolicy, check, validate};
use sda_ingest_core::sensors::SensorRegistry;
use sda_ingest_core::sim::scenario::Scenario;
use sda_ingest_core::wire::isl::{IslCodec, IslError, IslFrame, MAX_FRAME_LEN, PREFIX_LEN};
use sda_ingest_core::wire::optical::{MAX_BODY_LEN, OpticalPage, OpticalRecord};
use sda_ingest_core::wire::radar::{DATAGRAM_LEN, MAGIC, RadarError, RadarRecord};
use sda_ingest_core::wire::synthetic::{MAX_RECORD_LEN, SyntheticBody, SyntheticRecord};
use sda_ingest_core::wire::{self, WireError, WireFormat, WireRecord};
use sda_ingest_core::{Measurement, Observation, Observer, SensorKind};

/// Every code [`RadarError::code`] may return.
pub const RADAR_CODES: &[&str] = &[
    "truncated",
    "oversized",
    "bad_magic",
    "unsupported_version",
    "bad_checksum",
    "reserved_flags",
];
/// Every code [`IslError::code`] may return (`io` cannot occur on an in-memory buffer).
pub const ISL_CODES: &[&str] = &[
    "empty_frame",
    "frame_too_large",
    "unsupported_version",
    "unknown_type",
    "bad_length",
    "truncated",
];
/// Every code [`sda_ingest_core::wire::optical::OpticalError::code`] may return.
pub const OPTICAL_CODES: &[&str] = &["body_too_large", "invalid_json", "invalid_record"];
/// Every code [`sda_ingest_core::wire::synthetic::SyntheticError::code`] may return.
pub const SYNTHETIC_CODES: &[&str] = &["too_large", "invalid_json"];

/// The wire formats `normalize_frame` selects between with its first input byte.
pub const FORMATS: [&str; 4] = ["radar", "isl", "optical", "synthetic"];

// ---------------------------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------------------------

/// Checks a decoder error: stable, known, snake_case code; non-empty message; same code through
/// [`WireError`].
fn check_error<E>(err: E, allowed: &[&str]) -> &'static str
where
    E: std::fmt::Display + Into<WireError>,
{
    let message = err.to_string();
    assert!(!message.is_empty(), "error with an empty message");
    let wrapped: WireError = err.into();
    let code = wrapped.code();
    assert!(!code.is_empty(), "empty error code");
    assert!(
        code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            && !code.starts_with('_')
            && !code.ends_with('_'),
        "error code {code:?} is not snake_case"
    );
    assert!(allowed.contains(&code), "undocumented error code {code:?}");
    assert_eq!(wrapped.code(), code, "error code is not stable");
    assert_eq!(
        wrapped.to_string(),
        message,
        "WireError changes the message"
    );
    code
}

// ---------------------------------------------------------------------------------------------
// Radar
// ---------------------------------------------------------------------------------------------

/// CRC-32/ISO-HDLC, bit by bit: an independent implementation of the radar trailer checksum.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The radar decoder's verdict recomputed from the documented layout, in its check order.
fn radar_reference(data: &[u8]) -> Result<(), RadarError> {
    let len = data.len();
    if len < DATAGRAM_LEN {
        return Err(RadarError::Truncated { len });
    }
    if len > DATAGRAM_LEN {
        return Err(RadarError::Oversized { len });
    }
    let found: [u8; 4] = [data[0], data[1], data[2], data[3]];
    if found != MAGIC {
        return Err(RadarError::BadMagic { found });
    }
    if data[4] != 1 {
        return Err(RadarError::UnsupportedVersion(data[4]));
    }
    let computed = crc32(&data[..60]);
    let found = be_u32(&data[60..]);
    if computed != found {
        return Err(RadarError::BadChecksum { computed, found });
    }
    if data[5] & !0b11 != 0 {
        return Err(RadarError::ReservedFlags(data[5]));
    }
    Ok(())
}

/// Target `radar_datagram`: [`RadarRecord::decode`] on arbitrary bytes.
///
/// The verdict (and error payload) must equal the reference decoder's; a decoded record must
/// re-encode to the input with only the fields its flags mark as absent zeroed (and the CRC
/// recomputed), decode again to the same bits, and no single-bit flip of a valid datagram may
/// decode.
pub fn radar_datagram(data: &[u8]) -> Option<RadarRecord> {
    let result = RadarRecord::decode(data);
    let reference = radar_reference(data);
    match result {
        Err(err) => {
            assert_eq!(
                Err(err.clone()),
                reference,
                "radar verdict differs from the layout"
            );
            check_error(err, RADAR_CODES);
            None
        }
        Ok(rec) => {
            assert_eq!(reference, Ok(()), "radar decoder accepted {data:02x?}");
            let flags = data[5];
            let mut expected = data.to_vec();
            if flags & 0b10 == 0 {
                assert_eq!(rec.object_id, None);
                expected[20..24].fill(0);
            }
            if flags & 0b01 == 0 {
                assert_eq!(rec.range_rate_mps, None);
                expected[48..56].fill(0);
            }
            let crc = crc32(&expected[..60]);
            expected[60..].copy_from_slice(&crc.to_be_bytes());
            let encoded = rec.encode();
            assert_eq!(encoded[..], expected[..], "radar re-encoding differs");
            let again = RadarRecord::decode(&encoded).expect("re-encoded radar datagram decodes");
            assert_eq!(again.encode(), encoded, "radar round trip is not stable");
            for bit in 0..DATAGRAM_LEN * 8 {
                let mut flipped = encoded;
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    RadarRecord::decode(&flipped).is_err(),
                    "bit flip {bit} went undetected"
                );
            }
            Some(rec)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ISL
// ---------------------------------------------------------------------------------------------

/// What decoding an ISL byte stream produced: the frames, then the error that stopped it.
#[derive(Debug)]
pub struct IslOutcome {
    /// Frames in stream order.
    pub frames: Vec<IslFrame>,
    /// The error that ended the stream, if it did not end cleanly.
    pub error: Option<IslError>,
}

/// One codec call, with the allocation checks run on an exact-capacity copy of the buffer.
///
/// The codec is documented as stateless, so the copy must get the same answer; on the copy,
/// any growth of the capacity is the codec's own reservation.
fn isl_step(buf: &mut BytesMut, eof: bool) -> Result<Option<IslFrame>, IslError> {
    let mut probe = BytesMut::with_capacity(buf.len());
    probe.extend_from_slice(buf);
    let (len_before, cap_before) = (probe.len(), probe.capacity());
    let probed = IslCodec.decode(&mut probe);
    match &probed {
        Ok(None) => {
            assert_eq!(
                probe.len(),
                len_before,
                "codec consumed bytes without a frame"
            );
            if len_before >= PREFIX_LEN {
                let announced = be_u32(&probe[..4]) as usize;
                assert!(
                    (1..=MAX_FRAME_LEN).contains(&announced),
                    "codec waits for a frame of {announced} bytes"
                );
                assert!(len_before < PREFIX_LEN + announced);
                assert!(
                    probe.capacity() >= PREFIX_LEN + announced,
                    "codec did not reserve room for the announced frame"
                );
            }
            if probe.capacity() > cap_before {
                assert!(
                    len_before >= PREFIX_LEN,
                    "codec reserved before reading a prefix"
                );
                // `reserve` may round up (amortised doubling), never past twice the documented
                // maximum when starting from an exact-capacity buffer below it.
                assert!(
                    probe.capacity() <= 2 * (PREFIX_LEN + MAX_FRAME_LEN),
                    "codec reserved {} bytes (maximum frame is {})",
                    probe.capacity(),
                    PREFIX_LEN + MAX_FRAME_LEN
                );
            }
        }
        Err(err) => {
            assert!(
                probe.capacity() <= cap_before,
                "codec allocated for a frame it rejected"
            );
            if matches!(err, IslError::EmptyFrame | IslError::FrameTooLarge { .. }) {
                // Rejected from the prefix alone: nothing consumed, nothing reserved.
                assert_eq!((probe.len(), probe.capacity()), (len_before, cap_before));
            }
        }
        Ok(Some(_)) => {}
    }
    let real = if eof {
        IslCodec.decode_eof(buf)
    } else {
        IslCodec.decode(buf)
    };
    if !eof || !matches!(probed, Ok(None)) {
        assert_eq!(
            format!("{real:?}"),
            format!("{probed:?}"),
            "codec is not stateless"
        );
    }
    real
}

/// Decodes a whole stream at once, the way the `normalize` operator does: `decode_eof` in a loop.
pub fn isl_decode_all(stream: &[u8]) -> IslOutcome {
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    loop {
        match isl_step(&mut buf, true) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                assert!(buf.is_empty(), "decode_eof returned None with bytes left");
                return IslOutcome {
                    frames,
                    error: None,
                };
            }
            Err(error) => {
                if let IslError::Truncated { buffered } = error {
                    assert_eq!(buffered, buf.len(), "truncated error miscounts the buffer");
                }
                return IslOutcome {
                    frames,
                    error: Some(error),
                };
            }
        }
    }
}

/// Decodes a stream delivered in chunks, the way `FramedRead` does: `decode` until `None` after
/// each read, `decode_eof` at the end; any error ends the connection.
fn isl_decode_chunked(stream: &[u8], chunk_lens: &[usize]) -> IslOutcome {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut lens = chunk_lens.iter().cycle();
    while !rest.is_empty() {
        let n = lens.next().copied().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match isl_step(&mut buf, false) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => {
                    return IslOutcome {
                        frames,
                        error: Some(error),
                    };
                }
            }
        }
        // What the codec leaves undecoded is always less than one maximum frame.
        assert!(
            buf.len() < PREFIX_LEN + MAX_FRAME_LEN,
            "codec left {} bytes undecoded",
            buf.len()
        );
    }
    loop {
        match isl_step(&mut buf, true) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                return IslOutcome {
                    frames,
                    error: None,
                };
            }
            Err(error) => {
                return IslOutcome {
                    frames,
                    error: Some(error),
                };
            }
        }
    }
}

/// The error the documented framing says the stream must stop with at `rest` (the bytes after
/// the last good frame), or `None` if a good frame starts there.
fn isl_reference_error(rest: &[u8]) -> Option<IslError> {
    if rest.len() < PREFIX_LEN {
        return Some(IslError::Truncated {
            buffered: rest.len(),
        });
    }
    let announced = be_u32(rest);
    let len = announced as usize;
    if len == 0 {
        return Some(IslError::EmptyFrame);
    }
    if len > MAX_FRAME_LEN {
        return Some(IslError::FrameTooLarge { len: announced });
    }
    if rest.len() < PREFIX_LEN + len {
        return Some(IslError::Truncated {
            buffered: rest.len(),
        });
    }
    let p = &rest[PREFIX_LEN..PREFIX_LEN + len];
    if len < 2 {
        return Some(IslError::BadLength {
            frame_type: 0,
            len,
            expected: 4,
        });
    }
    if p[0] != 1 {
        return Some(IslError::UnsupportedVersion(p[0]));
    }
    let expected = match p[1] {
        0 => 4,
        1 => 72,
        other => return Some(IslError::UnknownType(other)),
    };
    if len != expected {
        return Some(IslError::BadLength {
            frame_type: p[1],
            len,
            expected,
        });
    }
    None
}

/// Splits the `isl_stream` input into chunk lengths and the stream.
///
/// Byte 0's low nibble `n` is how many chunk-length bytes follow (chunk length = byte + 1, used
/// cyclically); `n == 0` delivers the stream in one piece. The rest is the TCP byte stream.
pub fn isl_split_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = usize::from(first & 0x0F).min(rest.len());
    let lens = rest[..n].iter().map(|&b| usize::from(b) + 1).collect();
    (lens, &rest[n..])
}

/// Target `isl_stream`: arbitrary bytes, split into arbitrary chunks, through
/// [`IslCodec::decode`]/[`IslCodec::decode_eof`] in a `BytesMut` loop.
///
/// Checks: chunked and one-shot decoding agree (frames and error); the frames re-encode to
/// exactly the bytes they were decoded from; the stopping error is the one the documented
/// framing predicts, with a known code; and the allocation bounds of [`isl_step`].
pub fn isl_stream(data: &[u8]) {
    let (chunk_lens, stream) = isl_split_input(data);
    let whole = isl_decode_all(stream);
    let chunked = isl_decode_chunked(stream, &chunk_lens);
    let encoded: Vec<u8> = whole.frames.iter().flat_map(IslFrame::encode).collect();
    let encoded_chunked: Vec<u8> = chunked.frames.iter().flat_map(IslFrame::encode).collect();
    assert_eq!(encoded, encoded_chunked, "chunking changed the frames");
    assert_eq!(
        format!("{:?}", whole.error),
        format!("{:?}", chunked.error),
        "chunking changed the error"
    );
    assert!(
        stream.starts_with(&encoded),
        "decoded frames do not re-encode to the stream"
    );
    let rest = &stream[encoded.len()..];
    match whole.error {
        None => assert!(rest.is_empty(), "clean end with {} bytes left", rest.len()),
        Some(error) => {
            let expected = isl_reference_error(rest).expect("error where a good frame starts");
            assert_eq!(format!("{error:?}"), format!("{expected:?}"));
            check_error(error, ISL_CODES);
        }
    }
    for frame in &whole.frames {
        let bytes = frame.encode();
        let mut buf = BytesMut::from(&bytes[..]);
        let again = IslCodec.decode(&mut buf).expect("re-encoded frame decodes");
        assert_eq!(again.map(|f| f.encode()), Some(bytes), "frame round trip");
        assert!(buf.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// JSON formats
// ---------------------------------------------------------------------------------------------

/// Target `optical_page`: [`OpticalPage::decode`] on arbitrary bytes.
///
/// A decoded page must re-encode (JSON numbers are always finite), decode back to an equal page
/// and re-encode to the same bytes; an error must carry a known code, `body_too_large` exactly
/// when the body exceeds [`MAX_BODY_LEN`].
pub fn optical_page(data: &[u8]) -> Option<OpticalPage> {
    match OpticalPage::decode(data) {
        Ok(page) => {
            assert!(data.len() <= MAX_BODY_LEN);
            for r in &page.observations {
                check_optical_record(r);
            }
            let body = page.encode().expect("a decoded page re-encodes");
            let again = OpticalPage::decode(&body).expect("a re-encoded page decodes");
            assert_eq!(again, page, "optical round trip changed the page");
            assert_eq!(
                again.encode().ok(),
                Some(body),
                "optical encoding is not stable"
            );
            Some(page)
        }
        Err(err) => {
            let too_large = data.len() > MAX_BODY_LEN;
            let code = check_error(err, OPTICAL_CODES);
            assert_eq!(code == "body_too_large", too_large);
            None
        }
    }
}

fn check_optical_record(r: &OpticalRecord) {
    let floats = [
        r.site.lat_deg,
        r.site.lon_deg,
        r.site.alt_m,
        r.ra_deg,
        r.dec_deg,
        r.sigma_arcsec.unwrap_or(0.0),
    ];
    assert!(
        floats.iter().all(|v| v.is_finite()),
        "non-finite JSON number"
    );
}

/// Target `synthetic_record`: [`SyntheticRecord::decode`] on arbitrary bytes.
///
/// A decoded record must re-encode, decode back to an equal record, re-encode to the same
/// bytes, and still decode with a trailing newline (documented as allowed); an error must carry a
/// known code, `too_large` exactly when the input exceeds [`MAX_RECORD_LEN`].
pub fn synthetic_record(data: &[u8]) -> Option<SyntheticRecord> {
    match SyntheticRecord::decode(data) {
        Ok(rec) => {
            assert!(data.len() <= MAX_RECORD_LEN);
            let mut floats = vec![rec.sigma.unwrap_or(0.0)];
            floats.extend(synthetic_values(&rec.body));
            assert!(
                floats.iter().all(|v| v.is_finite()),
                "non-finite JSON number"
            );
            let bytes = rec.encode().expect("a decoded record re-encodes");
            let again = SyntheticRecord::decode(&bytes).expect("a re-encoded record decodes");
            assert_eq!(again, rec, "synthetic round trip changed the record");
            assert_eq!(
                again.encode().ok(),
                Some(bytes),
                "synthetic encoding is not stable"
            );
            if data.len() < MAX_RECORD_LEN {
                let mut line = data.to_vec();
                line.push(b'\n');
                let with_newline =
                    SyntheticRecord::decode(&line).expect("a trailing newline is allowed");
                assert_eq!(with_newline, rec);
            }
            Some(rec)
        }
        Err(err) => {
            let too_large = data.len() > MAX_RECORD_LEN;
            let code = check_error(err, SYNTHETIC_CODES);
            assert_eq!(code == "too_large", too_large);
            None
        }
    }
}

fn synthetic_values(body: &SyntheticBody) -> Vec<f64> {
    match *body {
        SyntheticBody::LaserRanging { range_m } => vec![range_m],
        SyntheticBody::PassiveRf {
            az_rad,
            el_rad,
            snr_db,
        } => vec![az_rad, el_rad, snr_db.unwrap_or(0.0)],
        SyntheticBody::SpaceBasedOptical {
            ra_rad,
            dec_rad,
            observer_teme_m: [x, y, z],
        } => vec![ra_rad, dec_rad, x, y, z],
        SyntheticBody::BistaticRadar {
            range_m,
            az_rad,
            el_rad,
            range_rate_mps,
        } => vec![range_m, az_rad, el_rad, range_rate_mps.unwrap_or(0.0)],
        SyntheticBody::Photometry {
            ra_rad,
            dec_rad,
            magnitude,
        } => vec![ra_rad, dec_rad, magnitude],
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// The simulator's sensor registry, built once.
pub fn scenario_registry() -> &'static SensorRegistry {
    static REGISTRY: OnceLock<SensorRegistry> = OnceLock::new();
    REGISTRY.get_or_init(Scenario::registry)
}

fn empty_registry() -> &'static SensorRegistry {
    static REGISTRY: OnceLock<SensorRegistry> = OnceLock::new();
    REGISTRY.get_or_init(SensorRegistry::new)
}

/// Decodes one frame with [`wire::decode`], the dispatch the pipeline's `normalize` uses, and
/// checks that a failure carries a known code of the selected format's decoder.
pub fn decode_frame(format: usize, bytes: &[u8]) -> Vec<WireRecord> {
    let (wire, codes) = match format % FORMATS.len() {
        0 => (WireFormat::Radar, RADAR_CODES),
        1 => (WireFormat::Isl, ISL_CODES),
        2 => (WireFormat::OpticalPage, OPTICAL_CODES),
        _ => (WireFormat::Synthetic, SYNTHETIC_CODES),
    };
    let decoded = wire::decode(wire, bytes);
    for failure in decoded.failures {
        check_error(failure.error, codes);
    }
    decoded.records
}

/// Splits the `normalize_frame` input: byte 0 picks the format (`% 4`, in [`FORMATS`] order)
/// and, with bit 2 clear, the simulator's sensor registry (set: an empty one); the rest is the
/// frame.
pub fn normalize_split_input(data: &[u8]) -> Option<(usize, &'static SensorRegistry, &[u8])> {
    let (&selector, frame) = data.split_first()?;
    let registry = if selector & 0b100 == 0 {
        scenario_registry()
    } else {
        empty_registry()
    };
    Some((usize::from(selector & 0b11), registry, frame))
}

/// Target `normalize_frame`: the whole decode → normalise → validate path on arbitrary bytes, for
/// the wire format selected by the first byte.
///
/// Every record is checked against what normalisation documents (ids, kinds, observers,
/// unit conversions, measurement values bit for bit), then validated: an accepted observation
/// must be finite, in its epoch window and survive the JSON sink round trip; a rejected one
/// must come back unchanged with a known reason and its fixed message.
pub fn normalize_frame(data: &[u8]) {
    let Some((format, registry, frame)) = normalize_split_input(data) else {
        return;
    };
    for record in decode_frame(format, frame) {
        let obs = normalize(&record, registry);
        check_normalized(&record, &obs, registry);
        check_validated(obs);
    }
}

fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn same_opt_bits(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_bits(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_measurement(a: &Measurement, b: &Measurement) -> bool {
    a.kind() == b.kind()
        && a.values().len() == b.values().len()
        && a.values()
            .iter()
            .zip(b.values())
            .all(|(x, y)| same_bits(*x, y))
        && match (a, b) {
            (
                Measurement::RangeAzEl {
                    range_rate_mps: x, ..
                },
                Measurement::RangeAzEl {
                    range_rate_mps: y, ..
                },
            ) => x.is_some() == y.is_some(),
            (
                Measurement::Position {
                    velocity_mps: x, ..
                },
                Measurement::Position {
                    velocity_mps: y, ..
                },
            ) => x.is_some() == y.is_some(),
            _ => true,
        }
}

/// `epoch` must be `us` microseconds to within float resolution (and to the microsecond for
/// any date this century, as the envelope documents).
fn check_epoch_micros(epoch: f64, us: i64) {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    assert!(epoch.is_finite());
    let s = secs as f64; // exact: |secs| < 2^53
    let diff = (epoch - s) - micros as f64 / 1e6;
    let tolerance = if (-2_208_988_800..=4_102_444_800).contains(&secs) {
        0.5e-6
    } else {
        s.abs() * f64::EPSILON + 1e-6
    };
    assert!(
        diff.abs() < tolerance,
        "epoch {epoch} is not {us} us (off by {diff} s)"
    );
}

fn check_normalized(record: &WireRecord, obs: &Observation, registry: &SensorRegistry) {
    assert_eq!(
        obs.ingest,
        Default::default(),
        "normalisation fills ingest metadata"
    );
    match record {
        WireRecord::Radar(r) => {
            let info = registry.by_numeric(SensorKind::Radar, r.sensor_id);
            let sensor = info.map_or_else(|| format!("radar-{}", r.sensor_id), |i| i.name.clone());
            assert_eq!(obs.sensor, sensor);
            assert_eq!(obs.id, format!("{sensor}/{}", r.sequence));
            assert_eq!(obs.sensor_kind, SensorKind::Radar);
            assert_eq!(obs.object_hint, r.object_id);
            assert_eq!(obs.observer, info.and_then(|i| i.site));
            check_epoch_micros(obs.epoch, r.epoch_us);
            let expected = Measurement::RangeAzEl {
                range_m: r.range_m,
                az_rad: r.az_rad,
                el_rad: r.el_rad,
                range_rate_mps: r.range_rate_mps,
            };
            assert!(
                same_measurement(&obs.measurement, &expected),
                "radar measurement"
            );
            assert!(same_opt_bits(obs.quality.snr_db, Some(f64::from(r.snr_db))));
            assert_eq!(obs.quality.sigma, None);
        }
        WireRecord::Isl(r) => {
            let sensor = registry
                .by_numeric(SensorKind::Isl, r.satellite_id)
                .map_or_else(|| format!("isl-{}", r.satellite_id), |i| i.name.clone());
            assert_eq!(obs.sensor, sensor);
            assert_eq!(obs.id, format!("{sensor}/{}", r.sequence));
            assert_eq!(obs.sensor_kind, SensorKind::Isl);
            assert_eq!(obs.object_hint, r.object_id);
            assert_ne!(obs.object_hint, Some(0), "object 0 means unknown");
            assert_eq!(obs.observer, None);
            check_epoch_micros(obs.epoch, r.epoch_us);
            let [x_m, y_m, z_m] = r.position_m;
            let expected = Measurement::Position {
                x_m,
                y_m,
                z_m,
                velocity_mps: Some(r.velocity_mps),
            };
            assert!(
                same_measurement(&obs.measurement, &expected),
                "isl measurement"
            );
            assert!(same_opt_bits(obs.quality.sigma, Some(f64::from(r.sigma_m))));
            assert_eq!(obs.quality.snr_db, None);
        }
        WireRecord::Optical(r) => {
            assert_eq!(obs.sensor, r.sensor);
            assert_eq!(obs.id, format!("{}/{}", r.sensor, r.id));
            let kind = registry
                .by_name(&r.sensor)
                .map_or(SensorKind::Optical, |i| i.kind);
            assert_eq!(obs.sensor_kind, kind);
            assert_eq!(obs.object_hint, r.object);
            let expected_epoch =
                r.epoch.timestamp() as f64 + f64::from(r.epoch.timestamp_subsec_nanos()) / 1e9;
            assert!(same_bits(obs.epoch, expected_epoch));
            assert!(obs.epoch.is_finite());
            assert!(
                (obs.epoch - r.epoch.timestamp() as f64) >= 0.0
                    && (obs.epoch - r.epoch.timestamp() as f64) < 2.0,
                "optical epoch {} is not within its second (leap seconds included)",
                obs.epoch
            );
            assert_eq!(
                obs.observer,
                Some(Observer::Ground {
                    lat_rad: r.site.lat_deg.to_radians(),
                    lon_rad: r.site.lon_deg.to_radians(),
                    alt_m: r.site.alt_m,
                })
            );
            let expected = Measurement::Angles {
                ra_rad: r.ra_deg.to_radians(),
                dec_rad: r.dec_deg.to_radians(),
            };
            assert!(
                same_measurement(&obs.measurement, &expected),
                "optical measurement"
            );
            assert!(same_opt_bits(
                obs.quality.sigma,
                r.sigma_arcsec.map(|s| (s / 3600.0).to_radians())
            ));
            assert_eq!(obs.quality.snr_db, None);
        }
        WireRecord::Synthetic(r) => {
            let info = registry.by_name(&r.sensor);
            assert_eq!(obs.sensor, r.sensor);
            assert_eq!(obs.id, format!("{}/{}", r.sensor, r.seq));
            assert_eq!(obs.object_hint, r.object);
            check_epoch_micros(obs.epoch, r.epoch_us);
            assert!(same_opt_bits(obs.quality.sigma, r.sigma));
            let (tag, measurement, snr_db) = synthetic_measurement(&r.body);
            // The registered kind wins over the record's tag.
            assert_eq!(obs.sensor_kind, info.map_or(tag, |i| i.kind));
            assert!(
                same_measurement(&obs.measurement, &measurement),
                "synthetic measurement"
            );
            assert!(same_opt_bits(obs.quality.snr_db, snr_db));
            let observer = match r.body {
                SyntheticBody::SpaceBasedOptical {
                    observer_teme_m: [x_m, y_m, z_m],
                    ..
                } => Some(Observer::Space { x_m, y_m, z_m }),
                _ => info.and_then(|i| i.site),
            };
            assert_eq!(obs.observer, observer);
        }
    }
}

fn check_validated(obs: Observation) {
    let policy = ValidationPolicy::default();
    let verdict = check(&obs, &policy);
    match validate(obs.clone(), &policy) {
        Ok(accepted) => {
            assert_eq!(verdict, None);
            assert_eq!(accepted, obs, "validation changed an accepted observation");
            assert!(!accepted.sensor.trim().is_empty());
            assert!(accepted.sensor_kind.produces(&accepted.measurement));
            assert!(accepted.measurement.values().iter().all(|v| v.is_finite()));
            assert!((policy.epoch_min..=policy.epoch_max).contains(&accepted.epoch));
            assert!(
                accepted
                    .quality
                    .sigma
                    .is_none_or(|s| s.is_finite() && s > 0.0)
            );
            assert!(accepted.quality.snr_db.is_none_or(f64::is_finite));
            if accepted.measurement.is_topocentric() {
                assert!(accepted.observer.is_some());
            }
            // The observations sink writes one JSON object per line; it must read back equal.
            let line = serde_json::to_string(&accepted).expect("accepted observation serialises");
            assert!(!line.contains('\n'));
            let back: Observation =
                serde_json::from_str(&line).expect("accepted observation deserialises");
            assert_eq!(back, accepted, "observation JSON round trip: {line}");
        }
        Err(rejection) => {
            assert_eq!(Some(rejection.reason), verdict);
            assert!(RejectReason::ALL.contains(&rejection.reason));
            let code = rejection.reason.code();
            assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(rejection.reason.to_string(), code);
            assert_eq!(rejection.message, rejection.reason.describe());
            assert!(!rejection.message.is_empty());
            assert!(same_observation(&rejection.observation, &obs));
        }
    }
}

/// Equality that treats NaNs with equal bits as equal (rejected observations may hold NaN).
fn same_observation(a: &Observation, b: &Observation) -> bool {
    format!("{a:?}") == format!("{b:?}")
}
