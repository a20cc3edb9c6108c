//! The service split into `--role edge` and `--role core` around a real `nats-server -js`
//! (feature `nats`): the happy path with exact accounting from the files, a `kill -9` of the
//! core mid-stream, and a broker outage under load. Each scenario is checked against a
//! single-process run (`--role all`) of the same scenario: the core must write exactly the same
//! observations and dead letters, each once (a dead letter JetStream redelivers after the
//! core's crash has the `dead_letter_id` the edge gave it, and the core skips it). A fourth
//! sends radar over UDP into the edge through a broker outage: backpressure reaches the socket,
//! the kernel's drops are counted, and every datagram is accounted for (read and in the core's
//! files, or dropped by the kernel).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::lines_of;
use common::nats::Broker;
use common::peers::{PacedRadar, free_udp_port, http, udp_socket_state};
use common::service::{Running, Service};
use common::wait_until;
use serde_json::Value;

/// How long a whole stream may take to reach the core's files.
const LIMIT: Duration = Duration::from_secs(90);

/// The scenario: in-process sources (backpressure reaches them; nothing is lost to a socket),
/// six times the default records (cadence 10 s), one pass.
fn scenario(rate: &str) -> Vec<String> {
    [
        "--transport",
        "inprocess",
        "--seed",
        "7",
        "--cadence",
        "10",
        "--rate",
        rate,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// What one process writes for the scenario: the summary, its observation ids and its dead
/// letters' ids.
struct Reference {
    summary: Value,
    ids: BTreeSet<String>,
    letters: BTreeSet<String>,
}

fn reference(dir: &Path) -> Reference {
    let out = dir.join("all");
    let finished = Service::new()
        .args(scenario("40"))
        .args(["--passes", "1", "--out"])
        .args([&out])
        .run();
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    let ids = record_ids(&out.join("observations.jsonl"));
    let letters = common::dead_letters::unique_ids(&out);
    assert!(!letters.is_empty(), "the scenario dead-letters");
    Reference {
        summary: finished.summary(),
        ids: ids.iter().cloned().collect(),
        letters,
    }
}

/// The alert ids of an `alerts.jsonl` (none when it does not exist yet).
fn alert_ids(path: &Path) -> BTreeSet<String> {
    if !path.exists() {
        return BTreeSet::new();
    }
    common::jsonl(path)
        .into_iter()
        .map(|line| line["alert_id"].as_str().expect("an alert id").to_owned())
        .collect()
}

/// The ids of the record lines of a JSONL file (chain lines aside), in order.
fn record_ids(path: &Path) -> Vec<String> {
    common::jsonl(path)
        .into_iter()
        .filter(|line| line.get("chain").is_none())
        .map(|line| line["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

fn role(role: &str, broker: &Broker, out: &Path, rate: &str) -> Running {
    Service::new()
        .args(scenario(rate))
        .args(["--role", role, "--nats", &broker.url(), "--out"])
        .args([out])
        .spawn()
}

/// The control plane's address of a running role.
fn control(running: &mut Running) -> String {
    let event = running.wait_for_event("control plane listening (http)", Duration::from_secs(60));
    event["addr"].as_str().expect("an address").to_owned()
}

/// A metric's value in a Prometheus text, the first sample whose line starts with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Every observation of the reference is in the core's observations and audit files exactly
/// once, and every dead letter in its dead-letter file, nothing else is, and the audit chain is
/// intact.
fn assert_exactly_once(core: &Path, reference: &Reference) {
    assert_eq!(
        common::dead_letters::unique_ids(core),
        reference.letters,
        "dead_letter.jsonl: not the single process's dead letters"
    );
    for file in ["observations.jsonl", "audit.jsonl"] {
        let ids = record_ids(&core.join(file));
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{file}: an id written twice");
        assert_eq!(
            unique, reference.ids,
            "{file}: not the single process's observations"
        );
    }
    sda_ingest::audit_chain::verify_file(&core.join("audit.jsonl")).expect("an intact chain");
}

fn n(summary: &Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
}

#[test]
fn edge_and_core_write_what_one_process_writes_with_exact_accounting() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(dir.path());
    let broker = Broker::start();
    let (edge_out, core_out) = (dir.path().join("edge"), dir.path().join("core"));
    let mut edge = role("edge", &broker, &edge_out, "40");
    let mut core = role("core", &broker, &core_out, "40");
    let (edge_addr, core_addr) = (control(&mut edge), control(&mut core));

    let r = &reference.summary;
    let (delivered, dead) = (n(r, "delivered") as usize, n(r, "dead_lettered") as usize);
    wait_until(
        "the core to write every observation and dead letter",
        LIMIT,
        || {
            lines(&core_out.join("observations.jsonl")) >= delivered
                && lines(&core_out.join("dead_letter.jsonl")) >= dead
        },
    );
    // The core's correlator runs on event time rebuilt from the stream: it raises the single
    // process's alerts while it runs, not only when it is stopped.
    let reference_alerts = alert_ids(&dir.path().join("all/alerts.jsonl"));
    assert!(
        !reference_alerts.is_empty(),
        "the scenario plants a conjunction"
    );
    wait_until("the core to raise the same alerts", LIMIT, || {
        alert_ids(&core_out.join("alerts.jsonl")) == reference_alerts
    });
    // `/topology` shows the remote edge on each side.
    let (_, topology) = http(&edge_addr, "GET", "/topology", None);
    assert!(topology.contains("jetstream_publish"), "{topology}");
    let (_, topology) = http(&core_addr, "GET", "/topology", None);
    assert!(topology.contains("jetstream_consume"), "{topology}");
    // The core's correlator takes new catalogs through the graph, as the single process's does.
    let parsed: serde_json::Value = serde_json::from_str(&topology).expect("topology JSON");
    let catalog_edge = parsed["edges"].as_array().is_some_and(|edges| {
        edges
            .iter()
            .any(|e| e["from"] == "catalog" && e["to"] == "correlator")
    });
    assert!(
        catalog_edge,
        "no catalog -> correlator in the core: {topology}"
    );
    // The JetStream vertices' metrics carry their HELP text, as promtool requires.
    let (_, metrics) = http(&edge_addr, "GET", "/metrics", None);
    assert!(
        metrics.contains("# HELP jetstream_published_total "),
        "{metrics}"
    );
    let (_, metrics) = http(&core_addr, "GET", "/metrics", None);
    assert!(
        metrics.contains("# HELP jetstream_received_total "),
        "{metrics}"
    );

    let core = core.terminate();
    let edge = edge.terminate();
    assert_eq!(edge.code(), Some(0), "{}", edge.stderr);
    assert_eq!(core.code(), Some(0), "{}", core.stderr);
    let (e, c) = (edge.summary(), core.summary());
    // The edge: every record read was published, as an observation or a dead letter.
    assert_eq!(n(&e, "received"), n(r, "received"));
    assert_eq!(
        n(&e, "delivered"),
        n(r, "accepted"),
        "published observations"
    );
    assert_eq!(n(&e, "dead_lettered"), n(r, "dead_lettered"));
    assert_eq!(
        (n(&e, "lost"), n(&e, "duplicates"), n(&e, "audited")),
        (0, 0, 0)
    );
    // The core: everything published was read once (no redelivery in a clean run), and it
    // delivered and de-duplicated exactly as the single process did.
    assert_eq!(
        n(&c, "received"),
        n(&e, "delivered") + n(&e, "dead_lettered")
    );
    for key in ["delivered", "duplicates", "dead_lettered", "audited"] {
        assert_eq!(n(&c, key), n(r, key), "core {key}");
    }
    assert_eq!(n(&c, "lost"), 0);
    assert_eq!(lines(&core_out.join("dead_letter.jsonl")), dead);
    assert_exactly_once(&core_out, &reference);
    // The edge wrote no observation files.
    assert!(!edge_out.join("observations.jsonl").exists());
}

#[test]
fn a_core_killed_mid_stream_and_restarted_writes_every_observation_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(dir.path());
    let broker = Broker::start();
    let (edge_out, core_out) = (dir.path().join("edge"), dir.path().join("core"));
    let delivered = n(&reference.summary, "delivered") as usize;
    // About 7 s of stream at 800 records/s.
    let edge = role("edge", &broker, &edge_out, "4");
    let core = role("core", &broker, &core_out, "4");
    wait_until(
        "the core to write a third of the observations",
        LIMIT,
        || lines(&core_out.join("observations.jsonl")) >= delivered / 3,
    );
    core.signal("KILL");
    let killed = core.wait();
    assert_eq!(killed.code(), None, "ended by the signal");
    // Complete lines only: a torn last line is cut when the core continues the file.
    let complete_before = std::fs::read(core_out.join("observations.jsonl"))
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    assert!(
        complete_before < delivered,
        "killed mid-stream ({complete_before} of {delivered})"
    );

    let letters_before = common::dead_letters::ids(&core_out).len();

    let core = role("core", &broker, &core_out, "4");
    let dead = reference.letters.len();
    wait_until(
        "the restarted core to write every observation and dead letter",
        LIMIT,
        || {
            lines(&core_out.join("observations.jsonl")) >= delivered
                && lines(&core_out.join("dead_letter.jsonl")) >= dead
        },
    );
    let core = core.terminate();
    let edge = edge.terminate();
    assert_eq!(core.code(), Some(0), "{}", core.stderr);
    assert_eq!(edge.code(), Some(0), "{}", edge.stderr);
    assert_exactly_once(&core_out, &reference);
    let c = core.summary();
    // The restarted core wrote only what the first had not; what JetStream redelivered and its
    // files held is counted as duplicates (and, for audit records and dead letters, as already
    // written), so each source still balances.
    assert_eq!(n(&c, "delivered") as usize, delivered - complete_before);
    assert_eq!(n(&c, "dead_lettered") as usize, dead - letters_before);
    common::dead_letters::assert_accounting(&c);
}

#[test]
fn a_broker_outage_under_load_loses_nothing_and_shows_in_the_retry_and_breaker_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(dir.path());
    let mut broker = Broker::start();
    let (edge_out, core_out) = (dir.path().join("edge"), dir.path().join("core"));
    let delivered = n(&reference.summary, "delivered") as usize;
    let mut edge = role("edge", &broker, &edge_out, "4");
    let core = role("core", &broker, &core_out, "4");
    let edge_addr = control(&mut edge);
    wait_until(
        "the core to write a quarter of the observations",
        LIMIT,
        || lines(&core_out.join("observations.jsonl")) >= delivered / 4,
    );

    // The outage: 30 s of real time, as operators see a broker restart or a network
    // partition: every mechanism acts several times over (1 s publish timeouts, the breaker
    // opening after five failed rounds, its 2 s cooldown and half-open probes, the client's
    // reconnect attempts), and the edge holds what it read meanwhile.
    broker.stop();
    let outage = std::time::Instant::now();
    let mut opened = false;
    while outage.elapsed() < Duration::from_secs(30) {
        let (_, text) = http(&edge_addr, "GET", "/metrics", None);
        opened |= metric(
            &text,
            "circuit_breaker_state{breaker=\"jetstream_publish\"}",
        ) == Some(1.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let during = lines(&core_out.join("observations.jsonl"));
    broker.restart();

    let dead = reference.letters.len();
    wait_until(
        "every observation and dead letter after the outage",
        LIMIT,
        || {
            lines(&core_out.join("observations.jsonl")) >= delivered
                && lines(&core_out.join("dead_letter.jsonl")) >= dead
        },
    );
    let (_, text) = http(&edge_addr, "GET", "/metrics", None);
    let core = core.terminate();
    let edge = edge.terminate();
    assert!(opened, "the publisher's breaker opened during the outage");
    let retries = metric(
        &text,
        "retry_attempts_total{operator=\"jetstream_publish\"}",
    );
    assert!(
        retries.is_some_and(|r| r > 0.0),
        "retries counted: {retries:?}"
    );
    let failures = metric(
        &text,
        "jetstream_publish_failures_total{sink=\"jetstream_publish\"}",
    );
    assert!(
        failures.is_some_and(|f| f > 0.0),
        "failed publishes counted: {failures:?}"
    );
    assert!(
        during < delivered,
        "the outage came mid-stream ({during} of {delivered})"
    );
    assert_eq!(edge.code(), Some(0), "{}", edge.stderr);
    assert_eq!(core.code(), Some(0), "{}", core.stderr);
    let e = edge.summary();
    assert_eq!(
        n(&e, "delivered"),
        n(&reference.summary, "accepted"),
        "every accepted observation published"
    );
    assert_eq!(n(&e, "lost"), 0);
    assert_exactly_once(&core_out, &reference);
}

/// A labelled sample of a Prometheus text: the first line of metric `name` that carries every
/// `label="value"` pair of `labels`, in whatever order the exporter writes them.
fn labelled(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// What the edge and the kernel say about radar at one moment of the outage.
#[derive(Debug, Clone, Copy)]
struct RadarMoment {
    /// Datagrams the test had sent.
    sent: u64,
    /// Radar records the edge had read (`ingest_source_records_total{source="radar",stage="read"}`).
    read: f64,
    /// The edge's `kernel_dropped_total{source="radar"}`.
    reported_drops: f64,
    /// Bytes queued in the socket's receive buffer, and its drop counter, from `/proc/net/udp`.
    queued: u64,
    drops: u64,
}

fn radar_moment(edge: &str, port: u16, sender: &PacedRadar) -> RadarMoment {
    let (_, text) = http(edge, "GET", "/metrics", None);
    // The sender's count first, then the kernel's: the drops can only run ahead of it.
    let sent = sender.sent();
    let (queued, drops) = udp_socket_state(port).expect("the radar socket in /proc/net/udp");
    let read = labelled(
        &text,
        "ingest_source_records_total",
        &[("source", "radar"), ("stage", "read")],
    )
    .unwrap_or(0.0);
    let reported_drops =
        labelled(&text, "kernel_dropped_total", &[("source", "radar")]).unwrap_or(0.0);
    RadarMoment {
        sent,
        read,
        reported_drops,
        queued,
        drops,
    }
}

/// Radar over UDP into an edge whose broker stops for 30 s: the edge's publisher holds, its
/// edges fill, the radar source stops reading, the socket's small receive buffer fills and the
/// kernel drops the rest, counted as it happens. Afterwards every datagram sent is read or
/// counted as dropped by the kernel, and every one read is in the core's files exactly once.
#[test]
fn a_broker_outage_backs_up_into_the_radar_socket_whose_kernel_drops_are_counted() {
    // Datagrams per second the radar peer sends throughout (the edge keeps up with it while
    // the broker is up), and the most it may send (the run's time bound covers it).
    const PER_SECOND: u64 = 1_000;
    const OUTAGE: Duration = Duration::from_secs(30);
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start();
    let (edge_out, core_out) = (dir.path().join("edge"), dir.path().join("core"));
    std::fs::create_dir_all(&edge_out).unwrap();
    let config = edge_out.join("sda.toml");
    // A small receive queue (the kernel grants twice this, about 170 datagrams' worth), so
    // that it fills within a second of the source stopping.
    std::fs::write(&config, "radar_recv_buffer_bytes = 65536\n").unwrap();
    let port = free_udp_port();
    let radar_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut edge = Service::new()
        .args(scenario("40"))
        .args([
            "--role",
            "edge",
            "--nats",
            &broker.url(),
            "--log-format",
            "json",
        ])
        .args(["--radar-bind", &radar_addr.to_string()])
        .args(["--config", config.to_str().unwrap(), "--out"])
        .args([&edge_out])
        .spawn();
    let core = role("core", &broker, &core_out, "40");
    let edge_addr = control(&mut edge);
    let radar_in_core = || lines_of(&core_out, "observations.jsonl", "radar").len();

    let sender = PacedRadar::start(radar_addr, PER_SECOND, PER_SECOND * 100);
    wait_until("radar observations to reach the core", LIMIT, || {
        radar_in_core() >= 1_000
    });

    let before = radar_moment(&edge_addr, port, &sender);
    broker.stop();
    let outage = std::time::Instant::now();
    let mut opened = false;
    let mut early: Option<RadarMoment> = None;
    while outage.elapsed() < OUTAGE {
        let (_, text) = http(&edge_addr, "GET", "/metrics", None);
        opened |= metric(
            &text,
            "circuit_breaker_state{breaker=\"jetstream_publish\"}",
        ) == Some(1.0);
        // A third of the way in, long after the edges and the socket's queue have filled.
        if early.is_none() && outage.elapsed() >= OUTAGE / 3 {
            early = Some(radar_moment(&edge_addr, port, &sender));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let late = radar_moment(&edge_addr, port, &sender);
    let in_core_during = radar_in_core() as u64;
    let early = early.expect("a moment a third of the way in");
    broker.restart();
    let sent = sender.stop();

    // Backpressure reached the socket: for the last two thirds of the outage the edge read
    // nothing, while the peer kept sending, the kernel's queue stayed full and it dropped
    // what did not fit; the edge reported the drops while they happened.
    let offered = late.sent - early.sent;
    assert!(
        offered > PER_SECOND * 10,
        "the peer kept sending: {early:?} {late:?}"
    );
    assert_eq!(
        late.read, early.read,
        "the edge read nothing more: {early:?} {late:?}"
    );
    assert!(
        early.queued > 0 && late.queued > 0,
        "the queue stayed full: {early:?} {late:?}"
    );
    let dropped = late.drops - early.drops;
    assert!(
        dropped <= offered && dropped + PER_SECOND / 10 >= offered,
        "the kernel dropped what was offered ({dropped} of {offered}): {early:?} {late:?}"
    );
    assert!(
        late.reported_drops >= early.drops as f64 && late.reported_drops > 0.0,
        "the edge reported the drops during the outage: {early:?} {late:?}"
    );
    assert!(opened, "the publisher's breaker opened during the outage");

    // The edge reads its queue again, the core resumes, and every record the edge read
    // reaches the core's files. The peer has stopped and the queue is empty, so the kernel's
    // count is final, and so is what the edge read: the rest.
    wait_until("the edge to read its queue again", LIMIT, || {
        udp_socket_state(port).is_some_and(|(queued, _)| queued == 0)
    });
    let (_, kernel_drops) = udp_socket_state(port).expect("the radar socket in /proc/net/udp");
    let read = sent - kernel_drops;
    assert!(
        in_core_during < read,
        "the edge held records through the outage ({in_core_during} in the core, {read} read)"
    );
    let radar_letters_in_core = || lines_of(&core_out, "dead_letter.jsonl", "radar").len();
    wait_until("the core to write every radar record read", LIMIT, || {
        (radar_in_core() + radar_letters_in_core()) as u64 >= read
    });
    wait_until("the edge to report the kernel's drops", LIMIT, || {
        let (_, text) = http(&edge_addr, "GET", "/metrics", None);
        labelled(&text, "kernel_dropped_total", &[("source", "radar")]) == Some(kernel_drops as f64)
    });
    let edge = edge.terminate();
    let core = core.terminate();
    assert_eq!(edge.code(), Some(0), "{}", edge.stderr);
    assert_eq!(core.code(), Some(0), "{}", core.stderr);
    assert!(
        edge.stderr.contains("radar held by backpressure"),
        "the edge said its radar source was held"
    );
    let (e, c) = (edge.summary(), core.summary());
    eprintln!(
        "radar through the outage: sent {sent}, read {read}, kernel_dropped {kernel_drops}; \
         before the outage {before:?}, a third in {early:?}, at its end {late:?}"
    );
    // Every datagram sent was read or dropped by the kernel: sent = read + kernel_dropped.
    assert_eq!(n(&e["sources"]["radar"], "read"), read, "{e}");
    assert_eq!(n(&e, "kernel_dropped"), kernel_drops, "{e}");
    assert!(kernel_drops >= late.drops, "{e}");
    // Every record read is in the core's files once, as an observation or a dead letter.
    let ids: Vec<String> = lines_of(&core_out, "observations.jsonl", "radar")
        .iter()
        .map(|line| line["id"].as_str().expect("an id").to_owned())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a radar observation written twice");
    assert_eq!(
        (ids.len() + radar_letters_in_core()) as u64,
        read,
        "edge {e}\ncore {c}"
    );
    assert_eq!((n(&e, "lost"), n(&c, "lost")), (0, 0));
    sda_ingest::audit_chain::verify_file(&core_out.join("audit.jsonl")).expect("an intact chain");
}
