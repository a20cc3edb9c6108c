//! Outside-in accounting, one test per transport: a peer sends N valid records (some of them
//! twice) and M invalid ones of several kinds, and the test checks from the output files — not
//! from the summary — that exactly the N are in `observations.jsonl` and the M in
//! `dead_letter.jsonl`, and then that the summary says the same, source by source.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use common::peers::{broken_radar, free_udp_port, radar, send_datagrams, udp_socket_state};
use common::service::{Finished, Service};
use common::{lines_of, wait_until};
use sda_ingest_core::SensorKind;
use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator, Verdict};
use sda_ingest_core::process::normalize::normalize;
use sda_ingest_core::process::validate::{ValidationPolicy, validate};
use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
use sda_ingest_core::wire::isl::{IslFrame, IslRecord};
use sda_ingest_core::wire::{WireFormat, decode};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// The reason codes of `source`'s dead letters, counted.
fn codes(dir: &Path, source: &str) -> BTreeMap<String, usize> {
    let mut codes = BTreeMap::new();
    for letter in lines_of(dir, "dead_letter.jsonl", source) {
        *codes
            .entry(letter["reason_code"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    codes
}

/// Checks that the summary's line for `source` equals what the files hold, and balances.
fn summary_equals_files(finished: &Finished, dir: &Path, source: &str) -> Value {
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    let s = &summary["sources"][source];
    let delivered = lines_of(dir, "observations.jsonl", source).len() as u64;
    let letters = lines_of(dir, "dead_letter.jsonl", source).len() as u64;
    assert_eq!(s["delivered"], delivered, "{source}: {summary}");
    assert_eq!(s["dead_lettered"], letters, "{source}: {summary}");
    assert_eq!(s["dropped"], 0, "{source}: {summary}");
    let n = |key: &str| s[key].as_u64().unwrap();
    assert_eq!(
        n("read"),
        n("delivered") + n("dead_lettered") + n("duplicates") + n("dropped"),
        "{source}: {summary}"
    );
    summary
}

#[test]
fn radar_every_datagram_is_delivered_dead_lettered_or_a_duplicate() {
    let out = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut running = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "100"])
        .args(["--radar-bind", &format!("127.0.0.1:{port}")])
        .args([
            "--log-format",
            "json",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .spawn();
    running.wait_for_event("radar listening (udp)", LIMIT);
    let valid: Vec<Vec<u8>> = (1..=200).map(radar).collect();
    let again: Vec<Vec<u8>> = (1..=10).map(radar).collect();
    let broken: Vec<(Vec<u8>, &str)> = broken_radar();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    send_datagrams("127.0.0.1:0", to, &valid);
    send_datagrams("127.0.0.1:0", to, &again);
    let bad: Vec<Vec<u8>> = broken.iter().map(|(d, _)| d.clone()).collect();
    send_datagrams("127.0.0.1:0", to, &bad);
    wait_until("every radar record in a file", LIMIT, || {
        lines_of(out.path(), "observations.jsonl", "radar").len() == 200
            && lines_of(out.path(), "dead_letter.jsonl", "radar").len() == broken.len()
    });
    wait_until("the radar socket's queue to empty", LIMIT, || {
        udp_socket_state(port).is_some_and(|(queued, _)| queued == 0)
    });
    let finished = running.terminate();
    let expected: BTreeMap<String, usize> = broken
        .iter()
        .map(|(_, code)| ((*code).to_owned(), 1))
        .collect();
    assert_eq!(codes(out.path(), "radar"), expected);
    let summary = summary_equals_files(&finished, out.path(), "radar");
    assert_eq!(summary["sources"]["radar"]["duplicates"], 10, "{summary}");
    assert_eq!(summary["sources"]["radar"]["read"], 215, "{summary}");
    assert_eq!(summary["kernel_dropped"], 0, "{summary}");
}

fn isl_state(seq: u32, x_m: f64) -> Vec<u8> {
    IslFrame::State(IslRecord {
        satellite_id: 9,
        sequence: seq,
        epoch_us: 1_704_067_200_000_000 + i64::from(seq) * 1_000_000,
        object_id: None,
        position_m: [x_m, 0.0, 0.0],
        velocity_mps: [0.0, 7_500.0, 0.0],
        sigma_m: 10.0,
    })
    .encode()
}

#[test]
fn isl_every_frame_is_delivered_dead_lettered_or_a_duplicate() {
    let out = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "100"])
        .args(["--isl-connect", &addr.to_string()])
        .args(["--out", out.path().to_str().unwrap()])
        .spawn();
    let (mut link, _) = listener.accept().unwrap();
    let mut bytes = Vec::new();
    for seq in 1..=100 {
        bytes.extend(isl_state(seq, 7_000_000.0));
        if seq % 10 == 0 {
            // Heartbeats carry no record and are not counted as one.
            bytes.extend(IslFrame::Heartbeat { satellite_id: 9 }.encode());
        }
    }
    for seq in 1..=5 {
        bytes.extend(isl_state(seq, 7_000_000.0));
    }
    bytes.extend([0, 0, 0, 4, 1, 7, 0, 1]); // unknown_type
    bytes.extend([0, 0, 0, 4, 9, 0, 0, 1]); // unsupported_version
    bytes.extend([0, 0, 0, 4, 1, 1, 0, 1]); // bad_length
    bytes.extend(isl_state(500, 1.0)); // position_out_of_bounds: inside the Earth
    bytes.extend(&isl_state(501, 7_000_000.0)[..20]); // truncated, at the end of the stream
    link.write_all(&bytes).unwrap();
    drop(link);
    wait_until("every isl record in a file", LIMIT, || {
        lines_of(out.path(), "observations.jsonl", "isl").len() == 100
            && lines_of(out.path(), "dead_letter.jsonl", "isl").len() == 5
    });
    let finished = running.terminate();
    let expected: BTreeMap<String, usize> = [
        "unknown_type",
        "unsupported_version",
        "bad_length",
        "position_out_of_bounds",
        "truncated",
    ]
    .into_iter()
    .map(|c| (c.to_owned(), 1))
    .collect();
    assert_eq!(codes(out.path(), "isl"), expected);
    let summary = summary_equals_files(&finished, out.path(), "isl");
    assert_eq!(summary["sources"]["isl"]["duplicates"], 5, "{summary}");
    assert_eq!(summary["sources"]["isl"]["read"], 110, "{summary}");
    assert_eq!(summary["heartbeats"], 10, "{summary}");
}

#[test]
fn optical_every_record_is_delivered_dead_lettered_or_a_duplicate() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(wiremock::MockServer::start());
    let record = |id: u32, ra_deg: f64| {
        serde_json::json!({
            "id": format!("P-{id}"),
            "sensor": "optical-1",
            "site": { "lat_deg": 32.9, "lon_deg": -105.5, "alt_m": 2200.0 },
            "epoch": format!("2024-01-01T01:{:02}:{:02}Z", id / 60, id % 60),
            "ra_deg": ra_deg,
            "dec_deg": -12.0,
        })
    };
    // Page 0: 20 valid records and a record that is not a record. Page 1: 20 valid, two of
    // page 0's again, and one whose right ascension is impossible. Page 1 is first answered
    // with a body that is not a page at all (the cursor is then asked again).
    let mut page0: Vec<Value> = (1..=20).map(|i| record(i, 10.0)).collect();
    page0.push(serde_json::json!({ "id": 5 }));
    let mut page1: Vec<Value> = (21..=40).map(|i| record(i, 10.0)).collect();
    page1.extend([record(3, 10.0), record(4, 10.0), record(99, 400.0)]);
    let page = |records: &[Value], next: Option<&str>| serde_json::json!({ "observations": records, "next_cursor": next });
    use wiremock::matchers::{path, query_param, query_param_is_missing};
    use wiremock::{Mock, ResponseTemplate};
    runtime.block_on(async {
        Mock::given(path("/observations"))
            .and(query_param_is_missing("cursor"))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(&page0, Some("1"))))
            .mount(&server)
            .await;
        Mock::given(path("/observations"))
            .and(query_param("cursor", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>busy</html>"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/observations"))
            .and(query_param("cursor", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(&page1, None)))
            .mount(&server)
            .await;
    });
    let out = tempfile::tempdir().unwrap();
    // The optical poller ends with the archive (`next_cursor: null`) and the in-process
    // sources after one pass: the run ends by itself.
    let finished = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "100"])
        .args(["--optical-url", &server.uri()])
        .args(["--out", out.path().to_str().unwrap()])
        .run();
    let delivered = lines_of(out.path(), "observations.jsonl", "optical");
    assert_eq!(delivered.len(), 40);
    let expected: BTreeMap<String, usize> = [
        ("invalid_json", 1),
        ("invalid_record", 1),
        ("right_ascension_out_of_range", 1),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), n))
    .collect();
    assert_eq!(codes(out.path(), "optical"), expected);
    let summary = summary_equals_files(&finished, out.path(), "optical");
    let optical = &summary["sources"]["optical"];
    assert_eq!(optical["duplicates"], 2, "{summary}");
    // 21 + 23 records on the two pages, and the body that was not a page.
    assert_eq!(optical["read"], 45, "{summary}");
}

#[test]
fn a_synthetic_source_every_record_is_delivered_dead_lettered_or_a_duplicate() {
    // What the pure domain makes of the laser-ranging stream, message by message: the oracle.
    let scenario = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let kind = SensorKind::LaserRanging;
    let (mut valid, mut invalid, mut duplicates) = (0, 0, 0);
    let mut window = Deduplicator::new(DedupConfig::default());
    for message in scenario.streams.of(kind) {
        let decoded = decode(WireFormat::for_kind(kind), message);
        invalid += decoded.failures.len();
        for record in &decoded.records {
            match validate(
                normalize(record, &scenario.sensors),
                &ValidationPolicy::default(),
            ) {
                Err(_) => invalid += 1,
                Ok(obs) => match window.check(&obs, Duration::ZERO) {
                    Verdict::New => valid += 1,
                    Verdict::Duplicate => duplicates += 1,
                },
            }
        }
    }
    assert!(invalid > 0 && duplicates > 0, "the stream has faults");
    let out = tempfile::tempdir().unwrap();
    let finished = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "400"])
        .args(["--out", out.path().to_str().unwrap()])
        .run();
    let source = kind.as_str();
    assert_eq!(
        lines_of(out.path(), "observations.jsonl", source).len(),
        valid
    );
    assert_eq!(
        lines_of(out.path(), "dead_letter.jsonl", source).len(),
        invalid
    );
    let summary = summary_equals_files(&finished, out.path(), source);
    assert_eq!(
        summary["sources"][source]["duplicates"], duplicates,
        "{summary}"
    );
    assert_eq!(
        summary["sources"][source]["read"],
        valid + invalid + duplicates,
        "{summary}"
    );
}
