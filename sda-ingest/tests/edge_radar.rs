//! Radar over UDP at the edge, with the real binary: datagrams the kernel drops are counted
//! (sent = read + kernel_dropped, exactly), datagrams from outside the allowlist are counted and
//! never decoded, and a flood of garbage is dead-lettered within the rate limit: every record
//! counted, only a bounded number of bytes written.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::peers::{free_udp_port, http, radar, send_datagrams, udp_socket_state};
use common::service::{Running, Service};
use common::{jsonl, lines_of, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "radar-edge-token";

fn start(out: &Path, port: u16, config: &str) -> (Running, String) {
    let file = out.join("sda.toml");
    std::fs::write(&file, config).unwrap();
    let mut running = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "100"])
        .args(["--radar-bind", &format!("127.0.0.1:{port}")])
        .args(["--config", file.to_str().unwrap(), "--log-format", "json"])
        .args(["--out", out.join("out").to_str().unwrap()])
        .env("SDA_CONTROL_TOKEN", TOKEN)
        .spawn();
    let event: Value = running.wait_for_event("control plane listening (http)", LIMIT);
    let control = event["addr"].as_str().unwrap().to_owned();
    (running, control)
}

fn radar_at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until the kernel holds nothing more for the radar socket to read.
fn wait_for_empty_queue(port: u16) {
    wait_until("the radar socket's queue to empty", LIMIT, || {
        udp_socket_state(port).is_some_and(|(queued, _)| queued == 0)
    });
}

#[test]
fn datagrams_the_kernel_drops_are_counted_exactly() {
    let out = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    // A small receive queue, so that a paused source's queue overflows.
    let (running, control) = start(out.path(), port, "radar_recv_buffer_bytes = 65536\n");
    let (status, _) = http(&control, "POST", "/operators/radar/pause", Some(TOKEN));
    assert_eq!(status, 200);
    let sent = 5_000;
    let datagrams: Vec<Vec<u8>> = (0..sent).map(radar).collect();
    send_datagrams("127.0.0.1:0", radar_at(port), &datagrams);
    let (_, dropped_while_paused) = udp_socket_state(port).unwrap();
    assert!(dropped_while_paused > 0, "the queue did not overflow");
    let (status, _) = http(&control, "POST", "/operators/radar/resume", Some(TOKEN));
    assert_eq!(status, 200);
    wait_for_empty_queue(port);
    let finished = running.terminate();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    let radar = &summary["sources"]["radar"];
    let (read, kernel_dropped) = (
        radar["read"].as_u64().unwrap(),
        summary["kernel_dropped"].as_u64().unwrap(),
    );
    assert_eq!(read + kernel_dropped, u64::from(sent), "{summary}");
    assert_eq!(kernel_dropped, dropped_while_paused, "{summary}");
    // Every datagram read was delivered, and the file agrees.
    let delivered = lines_of(&out.path().join("out"), "observations.jsonl", "radar").len();
    assert_eq!(delivered as u64, read, "{summary}");
    assert!(
        finished.stderr.contains("radar paused"),
        "{}",
        finished.stderr
    );
}

#[test]
fn datagrams_from_outside_the_allowlist_are_counted_and_never_decoded() {
    let out = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let (running, _) = start(out.path(), port, "radar_allow = [\"127.0.0.1/32\"]\n");
    let strangers: Vec<Vec<u8>> = (0..10).map(radar).collect();
    let friends: Vec<Vec<u8>> = (100..105).map(radar).collect();
    send_datagrams("127.0.0.2:0", radar_at(port), &strangers);
    send_datagrams("127.0.0.1:0", radar_at(port), &friends);
    wait_until("the allowed datagrams", LIMIT, || {
        lines_of(&out.path().join("out"), "observations.jsonl", "radar").len() == 5
    });
    wait_for_empty_queue(port);
    let finished = running.terminate();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["disallowed"], 10, "{summary}");
    assert_eq!(summary["sources"]["radar"]["read"], 5, "{summary}");
    assert!(lines_of(&out.path().join("out"), "dead_letter.jsonl", "radar").is_empty());
}

#[test]
fn a_flood_of_garbage_is_counted_in_full_but_written_within_the_rate_limit() {
    let out = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let (running, _) = start(
        out.path(),
        port,
        "[dead_letters]\nper_second = 100\nburst = 200\n",
    );
    let sent = 20_000_u64;
    let mut seed = 0x9e37_79b9_u32;
    let garbage: Vec<Vec<u8>> = (0..sent)
        .map(|_| {
            (0..513)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect()
        })
        .collect();
    send_datagrams("127.0.0.1:0", radar_at(port), &garbage);
    wait_for_empty_queue(port);
    let finished = running.terminate();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    let n = |v: &Value| v.as_u64().unwrap();
    let radar = &summary["sources"]["radar"];
    // Every datagram is accounted for: read (and dead-lettered) or dropped by the kernel.
    assert_eq!(
        n(&radar["read"]) + n(&summary["kernel_dropped"]),
        sent,
        "{summary}"
    );
    assert_eq!(radar["read"], radar["dead_lettered"], "{summary}");
    let suppressed = n(&radar["suppressed"]);
    assert!(suppressed > 0, "{summary}");
    // What the file holds: the letters written, plus notices of how many were suppressed.
    let dir = out.path().join("out");
    let letters: Vec<Value> = lines_of(&dir, "dead_letter.jsonl", "radar");
    let (notices, written): (Vec<&Value>, Vec<&Value>) = letters
        .iter()
        .partition(|l| l["stage"] == "dead_letter_limit");
    assert_eq!(
        written.len() as u64 + suppressed,
        n(&radar["read"]),
        "{summary}"
    );
    let noticed: u64 = notices.iter().map(|l| n(&l["suppressed"])).sum();
    assert_eq!(noticed, suppressed);
    assert_eq!(summary["dead_letters_suppressed"], suppressed);
    let bytes = std::fs::metadata(dir.join("dead_letter.jsonl"))
        .unwrap()
        .len();
    // 20,000 letters of about 1.2 KB each would be 24 MB; the limit keeps it to a few hundred.
    assert!(bytes < 2_000_000, "{bytes} bytes of dead letters");
    // Every line of the file is whole JSON (the other sources' letters included).
    assert!(jsonl(&dir.join("dead_letter.jsonl")).len() >= letters.len());
}
