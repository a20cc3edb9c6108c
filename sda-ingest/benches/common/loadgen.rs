//! Open-loop load over the real transports, and the clock that measures it.
//!
//! The generator sends radar datagrams (UDP, to the service's socket), ISL frames (TCP: the
//! service connects to the generator, as to a satellite link) and serves optical pages (HTTP:
//! the service polls the generator's archive), each transport at a constant rate. Record `n` of
//! a transport is **scheduled** at `t0 + n / rate`, and that schedule is its stamp: a sender
//! that falls behind (a full socket, a late wake-up) sends late, and the lateness counts in the
//! latency, so there is no coordinated omission. Records are the scenario's, replayed in passes
//! with sequence numbers (radar, ISL) and archive ids (optical) made unique —
//! `BASE × (transport + 1) + n` — and each pass's epochs moved on by a millisecond, so no
//! replay is a duplicate to `dedup`.
//!
//! The [tailer](spawn_tailer) reads `audit.jsonl` and `alerts.jsonl` as the service appends to
//! them and stamps each line when it first sees it. Both stamps — the schedule and the line
//! seen — are read from this process's monotonic clock (`std::time::Instant`, i.e.
//! `CLOCK_MONOTONIC` on Linux), so no clock has to be shared with the service's process and no
//! wall-clock step can enter a latency. The line is stamped once it is in the file, readable by
//! another process: the boundary where a record is safe. The tailer polls every 0.5 ms when it
//! finds nothing new, so a latency includes up to about that much of the tailer's own delay.

#![allow(dead_code)] // each benchmark uses its own subset

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::BytesMut;
use hdrhistogram::Histogram;
use sda_ingest_core::process::dedup::fingerprint;
use sda_ingest_core::process::normalize::normalize;
use sda_ingest_core::process::validate::{ValidationPolicy, check};
use sda_ingest_core::sensors::SensorRegistry;
use sda_ingest_core::sim::scenario::Streams;
use sda_ingest_core::wire::isl::{IslFrame, IslRecord};
use sda_ingest_core::wire::optical::{OpticalPage, OpticalRecord};
use sda_ingest_core::wire::radar::RadarRecord;
use sda_ingest_core::wire::{WireFormat, WireRecord, decode};

/// The transports, by index.
pub(crate) const TRANSPORTS: [&str; 3] = ["radar", "isl", "optical"];
/// Record `n` of transport `t` carries the number `BASE × (t + 1) + n`; the service's own
/// in-process sources number theirs far below `BASE`.
pub(crate) const BASE: u64 = 1_000_000_000;

/// One pass of the scenario's radar, ISL and optical records.
pub(crate) struct Records {
    radar: Vec<RadarRecord>,
    isl: Vec<IslRecord>,
    optical: Vec<OpticalRecord>,
}

impl Records {
    /// Decodes the scenario's streams, keeping only the records the service accepts: the
    /// planted faults (undecodable, invalid, re-sent) and the heartbeats are left out, so that
    /// every record sent is expected in `audit.jsonl`.
    pub(crate) fn from_streams(
        streams: &Streams,
        registry: &SensorRegistry,
    ) -> anyhow::Result<Records> {
        let policy = ValidationPolicy::default();
        let mut fingerprints = HashSet::new();
        let mut accepted = |record: WireRecord| {
            let obs = normalize(&record, registry);
            (check(&obs, &policy).is_none() && fingerprints.insert(fingerprint(&obs)))
                .then_some(record)
        };
        let (mut radar, mut isl, mut optical) = (Vec::new(), Vec::new(), Vec::new());
        for bytes in &streams.radar {
            for record in decode(WireFormat::Radar, bytes).records {
                if let Some(WireRecord::Radar(r)) = accepted(record) {
                    radar.push(r);
                }
            }
        }
        for bytes in &streams.isl {
            for record in decode(WireFormat::Isl, bytes).records {
                if let Some(WireRecord::Isl(r)) = accepted(record) {
                    isl.push(r);
                }
            }
        }
        for bytes in &streams.optical {
            for record in decode(WireFormat::OpticalPage, bytes).records {
                if let Some(WireRecord::Optical(r)) = accepted(record) {
                    optical.push(r);
                }
            }
        }
        let records = Records {
            radar,
            isl,
            optical,
        };
        for (t, name) in TRANSPORTS.iter().enumerate() {
            anyhow::ensure!(records.len(t) > 0, "the scenario has no {name} records");
        }
        Ok(records)
    }

    /// Records in one pass of transport `t`.
    pub(crate) fn len(&self, t: usize) -> u64 {
        (match t {
            0 => self.radar.len(),
            1 => self.isl.len(),
            _ => self.optical.len(),
        }) as u64
    }

    /// The pass of record `n` and its index in the pass.
    fn split(&self, t: usize, n: u64) -> (u64, usize) {
        let len = self.len(t);
        (n / len, (n % len) as usize)
    }

    /// Radar record `n`.
    fn radar(&self, n: u64) -> RadarRecord {
        let (pass, i) = self.split(0, n);
        let mut r = self.radar[i];
        r.sequence = (BASE + n) as u32;
        r.epoch_us += pass as i64 * 1_000;
        r
    }

    /// ISL record `n`.
    fn isl(&self, n: u64) -> IslRecord {
        let (pass, i) = self.split(1, n);
        let mut r = self.isl[i];
        r.sequence = (2 * BASE + n) as u32;
        r.epoch_us += pass as i64 * 1_000;
        r
    }

    /// Optical record `n`.
    fn optical(&self, n: u64) -> OpticalRecord {
        let (pass, i) = self.split(2, n);
        let mut r = self.optical[i].clone();
        r.id = (3 * BASE + n).to_string();
        r.epoch += chrono::TimeDelta::milliseconds(pass as i64);
        r
    }

    /// Epoch of record `i` of the first pass of transport `t`, UTC seconds.
    fn first_pass_epoch(&self, t: usize, i: usize) -> f64 {
        match t {
            0 => self.radar[i].epoch_us as f64 / 1e6,
            1 => self.isl[i].epoch_us as f64 / 1e6,
            _ => self.optical[i].epoch.timestamp_micros() as f64 / 1e6,
        }
    }
}

/// When each record of one transport is due.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// When record 0 is due.
    pub(crate) t0: Instant,
    /// Records per second.
    pub(crate) per_s: f64,
    /// Records in the run.
    pub(crate) total: u64,
}

impl Schedule {
    /// When record `n` is due: its stamp.
    pub(crate) fn at(&self, n: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(n as f64 / self.per_s)
    }

    /// How many records are due at `now`.
    pub(crate) fn due(&self, now: Instant) -> u64 {
        match now.checked_duration_since(self.t0) {
            None => 0,
            Some(d) => ((d.as_secs_f64() * self.per_s) as u64 + 1).min(self.total),
        }
    }
}

/// The correlator's screening rule, for [`alert_due`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScreeningRule {
    /// Screening starts here, UTC seconds.
    pub(crate) screen_from: f64,
    /// The horizon is the latest observed epoch plus this, seconds.
    pub(crate) lookahead_s: f64,
    /// A window is screened once the horizon is this far past the last one, seconds.
    pub(crate) min_step_s: f64,
}

/// When an alert at `tca` first became due: the correlator's screening rule applied to the
/// load's records one at a time in the order of their schedules (first pass; the horizon is
/// the latest epoch plus the lookahead, a window is screened once the horizon has moved the
/// minimum step past the last one); the schedule of the record that makes the window holding
/// `tca` due. `None` when no record of the load does. The service takes records in batches,
/// which can only make its windows later, so this is the earliest the service could raise it.
pub(crate) fn alert_due(
    records: &Records,
    schedules: &[Schedule; 3],
    rule: ScreeningRule,
    tca: f64,
) -> Option<Instant> {
    let mut events: Vec<(Instant, f64)> = (0..3)
        .flat_map(|t| {
            let n = records.len(t).min(schedules[t].total) as usize;
            (0..n).map(move |i| (schedules[t].at(i as u64), records.first_pass_epoch(t, i)))
        })
        .collect();
    events.sort_by_key(|e| e.0);
    let (mut screened, mut horizon) = (rule.screen_from, f64::NEG_INFINITY);
    for (at, epoch) in events {
        horizon = horizon.max(epoch + rule.lookahead_s);
        if horizon - screened >= rule.min_step_s {
            if screened < tca && tca <= horizon {
                return Some(at);
            }
            screened = horizon;
        }
    }
    None
}

/// What a sender did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    /// Records sent (served, for the archive).
    pub(crate) records: u64,
    /// Sends that failed (the record did not leave).
    pub(crate) errors: u64,
    /// The latest the sender itself was behind its schedule when it sent.
    pub(crate) behind_max: Duration,
}

/// Sends the due records through `send(from, to)` until `schedule.total` or `stop`, sleeping
/// until the next one is due in between.
fn pace(
    schedule: Schedule,
    stop: &AtomicBool,
    mut send: impl FnMut(u64, u64) -> anyhow::Result<u64>,
) -> anyhow::Result<Sent> {
    let mut report = Sent::default();
    let mut next = 0;
    while next < schedule.total && !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let due = schedule.due(now);
        if due > next {
            report.behind_max = report
                .behind_max
                .max(now.saturating_duration_since(schedule.at(next)));
            report.errors += send(next, due)?;
            report.records += due - next;
            next = due;
            continue;
        }
        std::thread::sleep(schedule.at(next).saturating_duration_since(now));
    }
    report.records -= report.errors;
    Ok(report)
}

/// Sends radar record `n` as one datagram to `to`, on schedule, on a thread of its own.
pub(crate) fn radar_sender(
    records: Arc<Records>,
    schedule: Schedule,
    to: SocketAddr,
    stop: Arc<AtomicBool>,
) -> JoinHandle<anyhow::Result<Sent>> {
    std::thread::spawn(move || {
        let socket = UdpSocket::bind(("127.0.0.1", 0))?;
        socket.connect(to)?;
        pace(schedule, &stop, |from, to| {
            let mut errors = 0;
            for n in from..to {
                if socket.send(&records.radar(n).encode()).is_err() {
                    errors += 1;
                }
            }
            Ok(errors)
        })
    })
}

/// Accepts the service's ISL connection on `listener` within `within`.
pub(crate) fn accept_isl(listener: &TcpListener, within: Duration) -> anyhow::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the service did not connect to the ISL peer within {within:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes ISL record `n` as one frame on `stream`, on schedule (the due frames in one write);
/// then sends a heartbeat every second until `stop`, so the link stays up for the drain.
pub(crate) fn isl_sender(
    records: Arc<Records>,
    schedule: Schedule,
    mut stream: TcpStream,
    stop: Arc<AtomicBool>,
) -> JoinHandle<anyhow::Result<Sent>> {
    std::thread::spawn(move || {
        let mut buf = BytesMut::new();
        let sent = pace(schedule, &stop, |from, to| {
            buf.clear();
            for n in from..to {
                IslFrame::State(records.isl(n)).encode_into(&mut buf);
            }
            stream.write_all(&buf).context("isl write")?;
            Ok(0)
        })?;
        let heartbeat = IslFrame::Heartbeat {
            satellite_id: records.isl[0].satellite_id,
        }
        .encode();
        while !stop.load(Ordering::Relaxed) {
            if stream.write_all(&heartbeat).is_err() {
                break;
            }
            for _ in 0..100 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(sent)
    })
}

/// The optical archive the service polls: `GET /observations?cursor=N` answers the records
/// from `N` on that are due, at most [`Archive::PAGE`] of them; a poll for records not yet due
/// is held until the first is due (at most [`Archive::HOLD`], then answered "nothing new"),
/// and a page is answered once it is full or its first record has waited [`Archive::GATHER`].
pub(crate) struct Archive {
    records: Arc<Records>,
    /// Set when the load starts; polls before it are held.
    schedule: OnceLock<Schedule>,
    /// Whether the service has polled yet.
    polled: AtomicBool,
    /// Records served so far (the highest cursor answered).
    served: AtomicU64,
    /// Where it listens.
    addr: SocketAddr,
}

impl Archive {
    /// Records on a page at most.
    pub(crate) const PAGE: u64 = 250;
    /// How long a page gathers records after its first is due.
    pub(crate) const GATHER: Duration = Duration::from_millis(2);
    /// How long a poll is held at most (the poller's request timeout is 2 s).
    pub(crate) const HOLD: Duration = Duration::from_millis(1500);

    /// Serves an archive of `records` on `listener` from a thread of its own until `stop`.
    pub(crate) fn serve(
        records: Arc<Records>,
        listener: TcpListener,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<(Arc<Archive>, JoinHandle<anyhow::Result<()>>)> {
        let archive = Arc::new(Archive {
            records,
            schedule: OnceLock::new(),
            polled: AtomicBool::new(false),
            served: AtomicU64::new(0),
            addr: listener.local_addr()?,
        });
        listener.set_nonblocking(true)?;
        let state = archive.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let app = axum::Router::new()
                    .route("/observations", axum::routing::get(observations))
                    .with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        while !stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    })
                    .await?;
                Ok(())
            })
        });
        Ok((archive, handle))
    }

    /// Starts the load: records are due from now on as `schedule` says.
    pub(crate) fn start(&self, schedule: Schedule) {
        let _ = self.schedule.set(schedule);
    }

    /// Whether the service has polled the archive yet.
    pub(crate) fn polled(&self) -> bool {
        self.polled.load(Ordering::Relaxed)
    }

    /// Records served so far.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// The page for `cursor`, after holding the poll as the type's documentation says.
    async fn page(&self, cursor: u64) -> OpticalPage {
        let asked = Instant::now();
        let schedule = loop {
            if let Some(s) = self.schedule.get() {
                break *s;
            }
            if asked.elapsed() >= Self::HOLD {
                return nothing_new(cursor);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if cursor >= schedule.total {
            return OpticalPage {
                observations: Vec::new(),
                next_cursor: None,
            };
        }
        let first = schedule.at(cursor);
        if first > asked + Self::HOLD {
            tokio::time::sleep_until((asked + Self::HOLD).into()).await;
            return nothing_new(cursor);
        }
        let full = schedule.at((cursor + Self::PAGE - 1).min(schedule.total - 1));
        tokio::time::sleep_until(full.min(first + Self::GATHER).into()).await;
        let end = schedule
            .due(Instant::now())
            .min(cursor + Self::PAGE)
            .max(cursor + 1);
        self.served.fetch_max(end, Ordering::Relaxed);
        OpticalPage {
            observations: (cursor..end).map(|n| self.records.optical(n)).collect(),
            next_cursor: (end < schedule.total).then(|| end.to_string()),
        }
    }
}

fn nothing_new(cursor: u64) -> OpticalPage {
    OpticalPage {
        observations: Vec::new(),
        next_cursor: Some(cursor.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct PageQuery {
    cursor: Option<String>,
}

async fn observations(
    axum::extract::State(archive): axum::extract::State<Arc<Archive>>,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    archive.polled.store(true, Ordering::Relaxed);
    let cursor = q.cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    let page = archive.page(cursor).await;
    match page.encode() {
        Ok(body) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A latency histogram: microseconds, 1 µs to one hour, three significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds") // start-up
}

/// One alert line the tailer saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlertSeen {
    /// Its time of closest approach, UTC seconds.
    pub(crate) tca: f64,
    /// Line seen less the moment it became due (see [`alert_due`]), ms; `None` when no
    /// record of the load could make it due (raised by the service's own sources).
    pub(crate) latency_ms: Option<f64>,
}

/// What the tailer saw.
pub(crate) struct Tail {
    /// Audit latency (line seen − schedule) of the load's records, by transport, µs.
    pub(crate) by_transport: [Histogram<u64>; 3],
    /// The same over every transport.
    pub(crate) all: Histogram<u64>,
    /// The load's records seen in `audit.jsonl`, by transport.
    pub(crate) seen: [u64; 3],
    /// Audit records of the service's own sources.
    pub(crate) others: u64,
    /// Alert lines.
    pub(crate) alerts: Vec<AlertSeen>,
    /// The worst audit latency of the records scheduled in each second of the run, µs: where
    /// in the run the late records were.
    pub(crate) worst_by_second: Vec<u64>,
}

/// Progress the tailer shares while it runs.
#[derive(Default)]
pub(crate) struct TailProgress {
    /// The load's records seen so far, by transport.
    pub(crate) seen: [AtomicU64; 3],
}

/// When an alert with a given time of closest approach became due, given the schedules.
pub(crate) type AlertDue = Box<dyn Fn(&[Schedule; 3], f64) -> Option<Instant> + Send + Sync>;

/// When a transport's schedules are known, and when alerts become due.
pub(crate) struct TailClock {
    /// Set when the load starts.
    pub(crate) schedules: OnceLock<[Schedule; 3]>,
    /// When an alert with this time of closest approach became due.
    pub(crate) alert_due: AlertDue,
    /// Records scheduled within this of the start are counted as seen but not measured.
    pub(crate) warmup: Duration,
}

/// Follows `audit.jsonl` and `alerts.jsonl` in `dir` until `stop` (then reads once more).
pub(crate) fn spawn_tailer(
    dir: PathBuf,
    clock: Arc<TailClock>,
    progress: Arc<TailProgress>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<anyhow::Result<Tail>> {
    std::thread::spawn(move || {
        let mut tail = Tail {
            by_transport: [histogram(), histogram(), histogram()],
            all: histogram(),
            seen: [0; 3],
            others: 0,
            alerts: Vec::new(),
            worst_by_second: Vec::new(),
        };
        let mut audit = Follow::new(dir.join("audit.jsonl"));
        let mut alerts = Follow::new(dir.join("alerts.jsonl"));
        loop {
            let last = stop.load(Ordering::Relaxed);
            let mut any = false;
            any |= audit.read(|line, seen| {
                let Some(number) = audit_number(line) else {
                    return;
                };
                let t = (number / BASE) as usize;
                if !(1..=3).contains(&t) {
                    tail.others += 1;
                    return;
                }
                let Some(schedules) = clock.schedules.get() else {
                    return;
                };
                let due = schedules[t - 1].at(number % BASE);
                let us = seen.saturating_duration_since(due).as_micros() as u64;
                let second = due.saturating_duration_since(schedules[t - 1].t0).as_secs() as usize;
                if tail.worst_by_second.len() <= second {
                    tail.worst_by_second.resize(second + 1, 0);
                }
                tail.worst_by_second[second] = tail.worst_by_second[second].max(us);
                if due >= schedules[t - 1].t0 + clock.warmup {
                    tail.by_transport[t - 1].saturating_record(us.max(1));
                    tail.all.saturating_record(us.max(1));
                }
                tail.seen[t - 1] += 1;
                progress.seen[t - 1].fetch_add(1, Ordering::Relaxed);
            })?;
            any |= alerts.read(|line, seen| {
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
                    return;
                };
                let Some(tca) = v["tca"].as_f64() else {
                    return;
                };
                let due = clock
                    .schedules
                    .get()
                    .and_then(|s| (clock.alert_due)(s, tca));
                let latency_ms = due.map(|due| {
                    if seen >= due {
                        (seen - due).as_secs_f64() * 1e3
                    } else {
                        -(due - seen).as_secs_f64() * 1e3
                    }
                });
                tail.alerts.push(AlertSeen { tca, latency_ms });
            })?;
            if last && !any {
                // Stopping: everything written before the stop has now been read.
                return Ok(tail);
            }
            if !any {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    })
}

/// The number after the last `/` of an audit line's `id` (`{"id":"name/N",…`).
fn audit_number(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"id\":\"")?;
    let id = &rest[..rest.iter().position(|&b| b == b'"')?];
    let digits = &id[id.iter().rposition(|&b| b == b'/')? + 1..];
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A file read as it grows, line by line.
struct Follow {
    path: PathBuf,
    file: Option<std::fs::File>,
    pending: Vec<u8>,
    chunk: Vec<u8>,
}

impl Follow {
    fn new(path: PathBuf) -> Self {
        Follow {
            path,
            file: None,
            pending: Vec::new(),
            chunk: vec![0; 1 << 20],
        }
    }

    /// Reads what was appended and hands each complete line to `line` with the instant it was
    /// read; whether anything was.
    fn read(&mut self, mut line: impl FnMut(&[u8], Instant)) -> anyhow::Result<bool> {
        if self.file.is_none() {
            match std::fs::File::open(&self.path) {
                Ok(f) => self.file = Some(f),
                Err(_) => return Ok(false),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        let n = file.read(&mut self.chunk)?;
        if n == 0 {
            return Ok(false);
        }
        let seen = Instant::now();
        self.pending.extend_from_slice(&self.chunk[..n]);
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            line(&self.pending[start..start + end], seen);
            start += end + 1;
        }
        self.pending.drain(..start);
        Ok(true)
    }
}

/// The load generator's side of a run: the radar target, the ISL listener and the archive.
pub(crate) struct Peers {
    records: Arc<Records>,
    radar_to: SocketAddr,
    isl_listener: TcpListener,
    archive: Arc<Archive>,
    archive_thread: Option<JoinHandle<anyhow::Result<()>>>,
    /// Stops the senders and the archive.
    stop: Arc<AtomicBool>,
}

/// A run of the load: what was sent, and the tailer still following the files.
pub(crate) struct Driven {
    /// Records sent (served, for optical), by transport.
    pub(crate) sent: [u64; 3],
    /// Sends that failed.
    pub(crate) send_errors: u64,
    /// The latest a sender was behind its schedule.
    pub(crate) behind_max: Duration,
    /// From the end of the schedule until every record sent was seen (or the wait ended), s.
    pub(crate) drain_s: f64,
    tailer: Option<JoinHandle<anyhow::Result<Tail>>>,
    tail_stop: Arc<AtomicBool>,
}

impl Driven {
    /// Stops the tailer after one last read, and returns what it saw.
    pub(crate) fn finish(mut self) -> anyhow::Result<Tail> {
        self.tail_stop.store(true, Ordering::Relaxed);
        self.tailer
            .take()
            .context("tailer already joined")?
            .join()
            .map_err(|_| anyhow::anyhow!("tailer panicked"))?
    }
}

impl Peers {
    /// Binds the ISL listener and starts the archive; radar goes to `radar_to`.
    pub(crate) fn start(records: Arc<Records>, radar_to: SocketAddr) -> anyhow::Result<Peers> {
        let isl_listener = TcpListener::bind(("127.0.0.1", 0))?;
        let optical_listener = TcpListener::bind(("127.0.0.1", 0))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (archive, archive_thread) =
            Archive::serve(records.clone(), optical_listener, stop.clone())?;
        Ok(Peers {
            records,
            radar_to,
            isl_listener,
            archive,
            archive_thread: Some(archive_thread),
            stop,
        })
    }

    /// Where the service connects for ISL.
    pub(crate) fn isl_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.isl_listener.local_addr()?)
    }

    /// The archive's base URL.
    pub(crate) fn optical_url(&self) -> String {
        format!("http://{}/", self.archive.addr)
    }

    /// Waits for the service (ISL connected, archive polled), then sends `rate` records per
    /// second (a third per transport) for `run_s` while the tailer follows `dir`, and waits
    /// until every record sent has been seen in `audit.jsonl` (at most `drain`, or until
    /// `alive` says the service has gone). The senders stop; the tailer keeps following until
    /// [`Driven::finish`].
    pub(crate) fn drive(
        &self,
        dir: &std::path::Path,
        rate: f64,
        run_s: f64,
        clock: Arc<TailClock>,
        drain: Duration,
        mut alive: impl FnMut() -> anyhow::Result<bool>,
    ) -> anyhow::Result<Driven> {
        let isl = accept_isl(&self.isl_listener, Duration::from_secs(120))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.archive.polled() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the service did not poll the archive"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let progress = Arc::new(TailProgress::default());
        let tail_stop = Arc::new(AtomicBool::new(false));
        let tailer = spawn_tailer(
            dir.to_path_buf(),
            clock.clone(),
            progress.clone(),
            tail_stop.clone(),
        );
        let per_s = rate / 3.0;
        let schedule = Schedule {
            t0: Instant::now() + Duration::from_millis(200),
            per_s,
            total: (per_s * run_s) as u64,
        };
        let _ = clock.schedules.set([schedule; 3]);
        self.archive.start(schedule);
        let radar = radar_sender(
            self.records.clone(),
            schedule,
            self.radar_to,
            self.stop.clone(),
        );
        let isl = isl_sender(self.records.clone(), schedule, isl, self.stop.clone());
        let join = |h: JoinHandle<anyhow::Result<Sent>>| {
            h.join().map_err(|_| anyhow::anyhow!("sender panicked"))?
        };
        let radar = join(radar)?;
        let end = schedule.at(schedule.total);
        let deadline = end + drain;
        // The archive has served everything once the poller has asked past the end.
        while self.archive.served() < schedule.total && Instant::now() < deadline && alive()? {
            std::thread::sleep(Duration::from_millis(10));
        }
        // ISL frames are all written once the sender is past its schedule: the heartbeats
        // follow them.
        let sent = [radar.records, schedule.total, self.archive.served()];
        // Until everything sent is seen, the drain bound passes, the service goes, or nothing
        // new has been seen for `STALLED` (records lost on the way never arrive).
        const STALLED: Duration = Duration::from_secs(5);
        let seen = || -> u64 {
            progress
                .seen
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .sum()
        };
        let mut last = (seen(), Instant::now());
        while (0..3).any(|t| progress.seen[t].load(Ordering::Relaxed) < sent[t])
            && Instant::now() < deadline
            && last.1.elapsed() < STALLED
            && alive()?
        {
            std::thread::sleep(Duration::from_millis(10));
            if seen() != last.0 {
                last = (seen(), Instant::now());
            }
        }
        let drain_s = Instant::now().saturating_duration_since(end).as_secs_f64();
        self.stop.store(true, Ordering::Relaxed);
        let isl = join(isl)?;
        Ok(Driven {
            sent: [radar.records, isl.records, self.archive.served()],
            send_errors: radar.errors + isl.errors,
            behind_max: radar.behind_max.max(isl.behind_max),
            drain_s,
            tailer: Some(tailer),
            tail_stop,
        })
    }

    /// Stops the senders and the archive.
    pub(crate) fn close(mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.archive_thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("archive thread panicked"))??;
        }
        Ok(())
    }
}
