//! Writes the committed seed corpus, `seeds/<target>/`, from the simulator's default scenario.
//!
//! ```text
//! cargo run --manifest-path sda-ingest/fuzz/Cargo.toml --example make_seeds [-- OUT_DIR]
//! ```
//!
//! Each target gets a few dozen small files: real wire bytes from `Scenario::generate` (the
//! first messages of each stream, every message the scenario damages so it fails to decode, and
//! every record it corrupts so validation rejects it), plus a handful of hand-made edge cases.
//! The output is deterministic; existing files in each `seeds/<target>/` are replaced.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sda_ingest_core::SensorKind;
use sda_ingest_core::process::normalize::normalize;
use sda_ingest_core::process::validate::{ValidationPolicy, check};
use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
use sda_ingest_core::wire::isl::{IslFrame, MAX_FRAME_LEN};
use sda_ingest_core::wire::optical::OpticalPage;
use sda_ingest_core::wire::radar::RadarRecord;
use sda_ingest_core::wire::synthetic::MAX_RECORD_LEN;
use sda_ingest_fuzz::{crc32, decode_frame, scenario_registry};

/// Seeds for one target, by file name.
type Seeds = BTreeMap<String, Vec<u8>>;

/// How many leading messages of each stream to take as plain "good" seeds.
const FIRST: usize = 8;

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let scenario = Scenario::generate(&ScenarioConfig::default()).expect("default scenario");
    let s = &scenario.streams;
    let bad = |kind: SensorKind| -> Vec<usize> {
        scenario
            .expected
            .decode_errors
            .iter()
            .filter(|e| e.source == kind)
            .map(|e| e.index)
            .collect()
    };

    let radar = radar_seeds(&s.radar, &bad(SensorKind::Radar));
    let isl = isl_seeds(&s.isl);
    let optical = optical_seeds(&s.optical);
    let mut synthetic = Seeds::new();
    for (kind, msgs) in &s.synthetic {
        synthetic.extend(synthetic_seeds(*kind, msgs, &bad(*kind)));
    }
    synthetic.extend(synthetic_hand_made());

    // normalize_frame: selector byte (format index; bit 2 clear = simulator registry) + frame.
    let mut normalize = Seeds::new();
    for (format, seeds) in [(0u8, &radar), (1, &isl), (2, &optical), (3, &synthetic)] {
        for (name, bytes) in seeds {
            let frame = if format == 1 {
                // isl_stream seeds start with their chunking header.
                let (_, stream) = sda_ingest_fuzz::isl_split_input(bytes);
                stream.to_vec()
            } else {
                bytes.clone()
            };
            // Keep the normalize corpus small: records that decode, plus a few that do not.
            let decodes = !decode_frame(usize::from(format), &frame).is_empty();
            if decodes || name.starts_with("sim-bad") {
                let mut seed = vec![format];
                seed.extend_from_slice(&frame);
                let format_name = sda_ingest_fuzz::FORMATS[usize::from(format)];
                normalize.insert(format!("{format_name}-{name}"), seed);
            }
        }
    }
    // The same radar and synthetic frames against the empty registry (no sites, tag kinds).
    if let Some(first) = s.radar.first() {
        normalize.insert(
            "hand-radar-empty-registry.bin".into(),
            prefixed(0b100, first),
        );
    }
    if let Some(first) = s.synthetic.values().next().and_then(|m| m.first()) {
        normalize.insert(
            "hand-synthetic-empty-registry.json".into(),
            prefixed(0b111, first),
        );
    }

    let mut total = 0;
    for (target, seeds) in [
        ("radar_datagram", radar),
        ("isl_stream", isl),
        ("optical_page", optical),
        ("synthetic_record", synthetic),
        ("normalize_frame", normalize),
    ] {
        let dir = out.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("clear old seeds");
        }
        fs::create_dir_all(&dir).expect("create seed dir");
        let bytes: usize = seeds.values().map(Vec::len).sum();
        for (name, data) in &seeds {
            fs::write(dir.join(name), data).expect("write seed");
        }
        println!("{target}: {} seeds, {bytes} bytes", seeds.len());
        total += bytes;
    }
    println!("total: {total} bytes in {}", out.display());
}

fn prefixed(selector: u8, frame: &[u8]) -> Vec<u8> {
    let mut seed = vec![selector];
    seed.extend_from_slice(frame);
    seed
}

/// Whether normalising (with the simulator's registry) and validating the frame rejects a record.
fn rejected(format: usize, frame: &[u8]) -> bool {
    let policy = ValidationPolicy::default();
    decode_frame(format, frame)
        .iter()
        .any(|r| check(&normalize(r, scenario_registry()), &policy).is_some())
}

fn radar_seeds(msgs: &[Vec<u8>], bad: &[usize]) -> Seeds {
    let mut seeds = Seeds::new();
    for (i, m) in msgs.iter().enumerate() {
        if i < FIRST {
            seeds.insert(format!("sim-{i:04}.bin"), m.clone());
        } else if bad.contains(&i) {
            seeds.insert(format!("sim-bad-{i:04}.bin"), m.clone());
        } else if rejected(0, m) {
            seeds.insert(format!("sim-invalid-{i:04}.bin"), m.clone());
        }
    }
    let good = msgs
        .iter()
        .find(|m| RadarRecord::decode(m).is_ok())
        .cloned()
        .unwrap_or_default();
    if good.len() == 64 {
        let with_crc = |mut b: Vec<u8>| {
            let crc = crc32(&b[..60]);
            b[60..].copy_from_slice(&crc.to_be_bytes());
            b
        };
        let mut reserved = good.clone();
        reserved[5] |= 0x80;
        seeds.insert("hand-reserved-flags.bin".into(), with_crc(reserved));
        let mut no_flags = good.clone();
        no_flags[5] = 0;
        seeds.insert("hand-no-optional-fields.bin".into(), with_crc(no_flags));
        let mut v2 = good.clone();
        v2[4] = 2;
        seeds.insert("hand-version-2.bin".into(), with_crc(v2));
        let mut nan = good.clone();
        nan[24..32].copy_from_slice(&f64::NAN.to_be_bytes());
        seeds.insert("hand-nan-range.bin".into(), with_crc(nan));
        let mut long = good.clone();
        long.push(0);
        seeds.insert("hand-oversized.bin".into(), long);
        seeds.insert("hand-truncated-63.bin".into(), good[..63].to_vec());
    }
    seeds.insert("hand-empty.bin".into(), Vec::new());
    seeds
}

fn isl_seeds(frames: &[Vec<u8>]) -> Seeds {
    // Header byte 0x00: deliver the stream in one piece (see `isl_split_input`).
    let whole = |stream: &[u8]| prefixed(0x00, stream);
    let mut seeds = Seeds::new();
    for (i, f) in frames.iter().enumerate() {
        if i < FIRST {
            seeds.insert(format!("sim-{i:04}.bin"), whole(f));
        } else if rejected(1, f) {
            seeds.insert(format!("sim-invalid-{i:04}.bin"), whole(f));
        }
    }
    let first: Vec<u8> = frames.iter().take(12).flatten().copied().collect();
    seeds.insert("sim-stream-12.bin".into(), whole(&first));
    // The same stream in 1-byte, 7-byte and mixed chunks.
    for (name, header) in [
        ("sim-stream-12-bytewise.bin", vec![0x01, 0]),
        ("sim-stream-12-chunks-7.bin", vec![0x01, 6]),
        ("sim-stream-12-chunks-mixed.bin", vec![0x04, 0, 3, 75, 255]),
    ] {
        let mut seed = header;
        seed.extend_from_slice(&first);
        seeds.insert(name.into(), seed);
    }
    let state = frames
        .iter()
        .find(|f| f.len() > 8)
        .cloned()
        .unwrap_or_default();
    if !state.is_empty() {
        seeds.insert("hand-truncated-stream.bin".into(), whole(&state[..40]));
        let mut bad_len = state.clone();
        bad_len[..4].copy_from_slice(&10u32.to_be_bytes());
        seeds.insert("hand-bad-length.bin".into(), whole(&bad_len[..14]));
    }
    let hb = IslFrame::Heartbeat { satellite_id: 7 }.encode();
    let too_large = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
    for (name, stream) in [
        ("hand-heartbeat.bin", hb.clone()),
        ("hand-empty-frame.bin", vec![0, 0, 0, 0]),
        (
            "hand-frame-too-large.bin",
            [&too_large[..], &[1, 1]].concat(),
        ),
        ("hand-max-prefix.bin", vec![0xFF, 0xFF, 0xFF, 0xFF, 1, 1]),
        ("hand-one-byte-payload.bin", vec![0, 0, 0, 1, 1]),
        ("hand-bad-version.bin", vec![0, 0, 0, 4, 9, 0, 0, 1]),
        ("hand-unknown-type.bin", vec![0, 0, 0, 4, 1, 7, 0, 1]),
        (
            "hand-heartbeat-then-garbage.bin",
            [&hb[..], &[0, 0]].concat(),
        ),
        ("hand-empty.bin", Vec::new()),
    ] {
        seeds.insert(name.into(), whole(&stream));
    }
    seeds
}

fn optical_seeds(pages: &[Vec<u8>]) -> Seeds {
    let mut seeds = Seeds::new();
    // Two real pages as the archive serves them (first and last), the rest split into small
    // pages of one or two records so the corpus stays small.
    if let Some(first) = pages.first() {
        seeds.insert("sim-page-first.json".into(), first.clone());
    }
    if pages.len() > 1
        && let Some(last) = pages.last()
    {
        seeds.insert("sim-page-last.json".into(), last.clone());
    }
    let records: Vec<_> = pages
        .iter()
        .filter_map(|p| OpticalPage::decode(p).ok())
        .flat_map(|p| p.observations)
        .collect();
    for (i, r) in records.iter().enumerate() {
        let page = OpticalPage {
            observations: vec![r.clone()],
            next_cursor: Some(format!("{}", i + 1)),
        };
        let body = page.encode().expect("encode optical page");
        if i < FIRST {
            seeds.insert(format!("sim-record-{i:04}.json"), body);
        } else if rejected(2, &body) || r.id.ends_with("-R") {
            seeds.insert(format!("sim-invalid-record-{i:04}.json"), body);
        }
    }
    if let [a, b, ..] = &records[..] {
        let page = OpticalPage {
            observations: vec![a.clone(), b.clone()],
            next_cursor: None,
        };
        seeds.insert(
            "sim-two-records-last-page.json".into(),
            page.encode().expect("encode optical page"),
        );
    }
    let doc_example = br#"{"observations":[{"id":"A-000123","sensor":"optical-1","site":{"lat_deg":32.9,"lon_deg":-105.5,"alt_m":2200.0},"object":25544,"epoch":"2024-01-01T00:10:00.250Z","ra_deg":123.456,"dec_deg":-12.345,"sigma_arcsec":1.5,"added_later":true}],"next_cursor":"A-000124"}"#;
    let no_optional = br#"{"observations":[{"id":"x","sensor":"o","site":{"lat_deg":0,"lon_deg":0,"alt_m":0},"epoch":"2024-01-01T00:00:00+05:30","ra_deg":1,"dec_deg":1}],"next_cursor":null}"#;
    let leap = br#"{"observations":[{"id":"L","sensor":"optical-1","site":{"lat_deg":1,"lon_deg":2,"alt_m":3},"epoch":"2016-12-31T23:59:60.5Z","ra_deg":1e2,"dec_deg":-1E1}],"next_cursor":null}"#;
    let bad_epoch = br#"{"observations":[{"id":"x","sensor":"o","site":{"lat_deg":0,"lon_deg":0,"alt_m":0},"epoch":"yesterday","ra_deg":1,"dec_deg":1}],"next_cursor":null}"#;
    for (name, body) in [
        ("hand-doc-example.json", &doc_example[..]),
        ("hand-no-optional-fields.json", &no_optional[..]),
        ("hand-leap-second.json", &leap[..]),
        ("hand-bad-epoch.json", &bad_epoch[..]),
        (
            "hand-empty-page.json",
            &br#"{"observations":[],"next_cursor":null}"#[..],
        ),
        ("hand-truncated.json", &br#"{"observations": ["#[..]),
        (
            "hand-wrong-type.json",
            &br#"{"observations":[{"id":1}],"next_cursor":null}"#[..],
        ),
    ] {
        seeds.insert(name.into(), body.to_vec());
    }
    seeds
}

fn synthetic_seeds(kind: SensorKind, msgs: &[Vec<u8>], bad: &[usize]) -> Seeds {
    let mut seeds = Seeds::new();
    let k = kind.as_str();
    for (i, m) in msgs.iter().enumerate() {
        if i < 4 {
            seeds.insert(format!("sim-{k}-{i:04}.json"), m.clone());
        } else if bad.contains(&i) {
            seeds.insert(format!("sim-bad-{k}-{i:04}.json"), m.clone());
        } else if rejected(3, m) {
            seeds.insert(format!("sim-invalid-{k}-{i:04}.json"), m.clone());
        }
    }
    seeds
}

fn synthetic_hand_made() -> Seeds {
    let mut seeds = Seeds::new();
    for (name, body) in [
        (
            "hand-doc-example-newline.json",
            &b"{\"sensor\":\"slr-1\",\"seq\":7,\"epoch_us\":1704067200000000,\"object\":25544,\"sigma\":0.02,\"kind\":\"laser_ranging\",\"range_m\":812000.0}\n"[..],
        ),
        (
            "hand-kind-first.json",
            &br#"{"kind":"bistatic_radar","range_m":9e5,"az_rad":3,"el_rad":0.2,"range_rate_mps":-1.5,"sensor":"bsr-1","seq":18446744073709551615,"epoch_us":-9223372036854775808}"#[..],
        ),
        (
            "hand-unknown-kind.json",
            &br#"{"sensor":"x","seq":1,"epoch_us":0,"kind":"sonar","depth_m":3}"#[..],
        ),
        (
            "hand-missing-field.json",
            &br#"{"sensor":"x","seq":1,"epoch_us":0,"kind":"laser_ranging"}"#[..],
        ),
        ("hand-not-json.json", &b"not json"[..]),
    ] {
        seeds.insert(name.into(), body.to_vec());
    }
    seeds.insert("hand-too-large.json".into(), vec![b' '; MAX_RECORD_LEN + 1]);
    seeds
}
