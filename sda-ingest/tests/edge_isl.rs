//! The ISL stream at the edge, over a real TCP peer and the real binary: a frame whose length
//! prefix is sane but whose payload is bad costs only itself, on the same connection; a stream
//! that falls out of step has every byte it read dead-lettered; a connection cut in the middle
//! of a frame dead-letters the partial frame; a silent link is noticed and reconnected.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::service::{Running, Service};
use common::{lines_of, wait_until};
use sda_ingest_core::wire::isl::{IslFrame, IslRecord};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// A valid state frame of satellite 9, sequence `seq`.
fn state(seq: u32) -> Vec<u8> {
    IslFrame::State(IslRecord {
        satellite_id: 9,
        sequence: seq,
        epoch_us: 1_704_067_200_000_000 + i64::from(seq) * 1_000_000,
        object_id: Some(40_001),
        position_m: [7_000_000.0, 0.0, 0.0],
        velocity_mps: [0.0, 7_500.0, 0.0],
        sigma_m: 10.0,
    })
    .encode()
}

/// A frame whose length prefix is sane but whose payload is not a known frame.
fn bad_payload(kind: &str) -> Vec<u8> {
    match kind {
        "unknown_type" => vec![0, 0, 0, 4, 1, 7, 0, 1],
        "unsupported_version" => vec![0, 0, 0, 4, 9, 0, 0, 1],
        // A state frame announced with a heartbeat's length.
        "bad_length" => vec![0, 0, 0, 4, 1, 1, 0, 1],
        other => panic!("{other}"),
    }
}

/// Accepts connections on a thread and hands each one over.
fn peer() -> (std::net::SocketAddr, mpsc::Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if tx.send(stream.unwrap()).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

fn start(out: &Path, isl: std::net::SocketAddr, config: Option<&Path>) -> Running {
    let mut service = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "100"])
        .args(["--isl-connect", &isl.to_string(), "--log-format", "json"])
        .args(["--out", out.to_str().unwrap()]);
    if let Some(config) = config {
        service = service.args(["--config", config.to_str().unwrap()]);
    }
    service.spawn()
}

#[test]
fn a_frame_with_a_bad_payload_is_dead_lettered_alone_and_the_stream_goes_on() {
    for kind in ["unknown_type", "unsupported_version", "bad_length"] {
        let out = tempfile::tempdir().unwrap();
        let (addr, connections) = peer();
        let running = start(out.path(), addr, None);
        let mut link = connections.recv_timeout(LIMIT).unwrap();
        // One write: a valid frame, the bad one, then fifty valid frames.
        let mut bytes = state(1);
        bytes.extend(bad_payload(kind));
        for seq in 2..=51 {
            bytes.extend(state(seq));
        }
        link.write_all(&bytes).unwrap();
        wait_until("51 isl observations", LIMIT, || {
            lines_of(out.path(), "observations.jsonl", "isl").len() == 51
        });
        let finished = running.terminate();
        let summary = finished.summary();
        assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
        let letters = lines_of(out.path(), "dead_letter.jsonl", "isl");
        assert_eq!(letters.len(), 1, "{kind}: {letters:?}");
        assert_eq!(letters[0]["reason_code"], kind);
        // The same connection all along: no reconnect happened.
        assert!(
            connections.try_recv().is_err(),
            "{kind}: the source reconnected"
        );
        let isl = &summary["sources"]["isl"];
        assert_eq!(isl["read"], 52, "{kind}: {summary}");
        assert_eq!(isl["delivered"], 51, "{kind}: {summary}");
        assert_eq!(isl["dead_lettered"], 1, "{kind}: {summary}");
        assert_eq!(isl["dropped"], 0, "{kind}: {summary}");
        drop(link);
    }
}

#[test]
fn a_stream_out_of_step_dead_letters_every_byte_it_read_and_reconnects() {
    let out = tempfile::tempdir().unwrap();
    let (addr, connections) = peer();
    let running = start(out.path(), addr, None);
    let mut first = connections.recv_timeout(LIMIT).unwrap();
    // Two good frames, then a zero length prefix and 100 bytes behind it.
    let mut bytes = state(1);
    bytes.extend(state(2));
    bytes.extend([0, 0, 0, 0]);
    bytes.extend([0x5a; 100]);
    first.write_all(&bytes).unwrap();
    // The source drops the connection and comes back.
    let mut second = connections.recv_timeout(LIMIT).unwrap();
    second.write_all(&state(3)).unwrap();
    wait_until("3 isl observations", LIMIT, || {
        lines_of(out.path(), "observations.jsonl", "isl").len() == 3
    });
    let finished = running.terminate();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    let letters = lines_of(out.path(), "dead_letter.jsonl", "isl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["reason_code"], "empty_frame");
    // Everything read from the bad prefix on: the prefix and the 100 bytes (all of it had
    // arrived in the one write; a later read could only make the span longer, never shorter).
    assert_eq!(letters[0]["bytes"], 104, "{}", letters[0]);
    assert!(letters[0]["raw"].as_str().unwrap().starts_with("00000000"));
    let isl = &summary["sources"]["isl"];
    assert_eq!(isl["read"], 4, "{summary}");
    assert_eq!(isl["delivered"], 3, "{summary}");
    assert_eq!(isl["dead_lettered"], 1, "{summary}");
    assert!(
        finished.stderr.contains("out_of_step"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_connection_reset_in_the_middle_of_a_frame_dead_letters_the_partial_frame() {
    let out = tempfile::tempdir().unwrap();
    let (addr, connections) = peer();
    let running = start(out.path(), addr, None);
    let mut first = connections.recv_timeout(LIMIT).unwrap();
    let whole = state(2);
    let mut bytes = state(1);
    bytes.extend(&whole[..30]);
    first.write_all(&bytes).unwrap();
    wait_until("the first isl observation", LIMIT, || {
        lines_of(out.path(), "observations.jsonl", "isl").len() == 1
    });
    // Closing with a zero linger sends a reset, not an orderly end of stream.
    socket2::SockRef::from(&first)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(first);
    wait_until("the partial frame's dead letter", LIMIT, || {
        !lines_of(out.path(), "dead_letter.jsonl", "isl").is_empty()
    });
    let finished = running.terminate();
    let summary = finished.summary();
    let letters = lines_of(out.path(), "dead_letter.jsonl", "isl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["reason_code"], "truncated");
    assert_eq!(letters[0]["bytes"], 30);
    let isl = &summary["sources"]["isl"];
    assert_eq!(isl["read"], 2, "{summary}");
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
}

#[test]
fn a_silent_link_is_reconnected_after_the_idle_timeout() {
    let out = tempfile::tempdir().unwrap();
    let config = out.path().join("sda.toml");
    std::fs::write(&config, "isl_idle_timeout_s = 1.0\n").unwrap();
    let (addr, connections) = peer();
    let mut running = start(&out.path().join("out"), addr, Some(&config));
    let mut first = connections.recv_timeout(LIMIT).unwrap();
    first
        .write_all(&IslFrame::Heartbeat { satellite_id: 9 }.encode())
        .unwrap();
    // Then silence, with the connection open: the source gives up on it and reconnects.
    let _second = connections
        .recv_timeout(LIMIT)
        .expect("the source reconnects to a silent peer");
    let event: Value = running.wait_for_event("isl link lost; reconnecting", LIMIT);
    assert_eq!(event["reason"], "idle", "{event}");
    let finished = running.terminate();
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    assert_eq!(finished.summary()["heartbeats"], 1);
    drop(first);
}
