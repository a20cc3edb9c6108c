//! The checkpoint benchmark's saturated runs: the real topology offered more than it can take
//! for a fixed time, its throughput read from what the audit sink wrote over a steady window,
//! and every checkpoint that completed in that window recorded.
//!
//! A run offers `rate` × [`BASE_RECORDS_PER_S`] records per second per source (paced), lets
//! the queues fill for `warmup`, then measures for `window` and shuts down. Only records
//! written inside the window count, so neither the start (queues filling) nor the drain
//! (queues emptying after shutdown) enters the rate. The coordinator's status is polled every
//! 10 ms, and each checkpoint that completed inside the window is kept with its duration and
//! size.
//!
//! **The same load in every run.** Under saturation the fan-in into `normalize` takes about the
//! same number of records from each of the eight sources, so a source whose stream is short
//! runs dry long before the others, and from then on the pipeline works on another mix of
//! formats (a faster run reaches that point sooner, which would bias a comparison). So the
//! scenario is generated long enough for every source to keep a backlog through the whole
//! window ([`Sized`]), each stream cut to what a run can send, and a run in which a stream ran
//! dry before the window ended is reported as such (and refused by the full benchmark).

#![allow(dead_code)] // the checkpoint benchmark uses it; the others include `common` only

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use sda_ingest::pipeline::operators::PropagatorRuntime;
use sda_ingest::pipeline::sinks::files;
use sda_ingest::pipeline::{Parts, build_topology, unix_now};
use sda_ingest::simulator::{BASE_RECORDS_PER_S, Pacing};
use sda_ingest_core::SensorKind;
use sda_ingest_core::sim::scenario::{OPTICAL_PAGE_LEN, Streams};
use sda_orchestrator::checkpoint::CheckpointConfig;
use sda_orchestrator::monitor::OperatorState;
use sda_orchestrator::resilience::DedicatedPool;

use crate::common::{Fixture, prepare_out_dir, quantile, service_policy};

/// How often the coordinator's status is looked at.
const POLL: Duration = Duration::from_millis(10);

/// One checkpoint that completed during a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completed {
    /// When it completed, Unix seconds.
    pub(crate) at_unix_s: f64,
    /// From its start to written, seconds.
    pub(crate) duration_s: f64,
    /// On disk, bytes.
    pub(crate) size_bytes: u64,
}

/// One saturated run's figures.
#[derive(Debug, Clone)]
pub(crate) struct Saturated {
    /// Records per second offered over the eight sources.
    pub(crate) offered_per_s: f64,
    /// Audit records written inside the window, per second of window.
    pub(crate) per_s: f64,
    /// The same over the first and the second half of the window: the checkpointed state
    /// grows during a run, so this shows whether the cost grows with it.
    pub(crate) halves_per_s: [f64; 2],
    /// Source-to-audit latency of the records written inside the window, ms.
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// The checkpoints that completed inside the window.
    pub(crate) in_window: Vec<Completed>,
    /// Checkpoints abandoned over the whole run.
    pub(crate) abandoned: u64,
    /// Why the last one was, if any was.
    pub(crate) last_abandoned_reason: Option<String>,
    /// Seconds the sources spent blocked on their full edges, over the whole run: the proof
    /// that the pipeline, not the pacing, set the rate.
    pub(crate) sources_blocked_s: f64,
    /// The sources whose stream ran dry before the window ended.
    pub(crate) ran_dry: Vec<&'static str>,
    /// What the run wrote to disk (output files and checkpoints), bytes.
    pub(crate) bytes_written: u64,
    /// Records the audit sink wrote over the whole run.
    pub(crate) audited: u64,
}

/// The offered rate over the eight sources, records per second, at rate multiplier `rate`.
pub(crate) fn offered(rate: f64) -> f64 {
    BASE_RECORDS_PER_S * rate * SensorKind::COUNT as f64
}

/// The rate multiplier that offers `per_s` records per second over the eight sources.
pub(crate) fn rate_for(per_s: f64) -> f64 {
    per_s / offered(1.0)
}

/// Removes a run's folder when dropped, failed runs included: a saturated run writes
/// gigabytes.
struct Scratch<'a>(&'a Path);

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}

/// Runs the topology at `rate` for `warmup` + `window` with checkpoints every `interval` (or
/// none), then shuts it down and drains it; the figures are those of the window.
pub(crate) async fn run(
    fixture: &Fixture,
    pool: &DedicatedPool,
    rate: f64,
    interval: Option<Duration>,
    warmup: Duration,
    window: Duration,
    dir: &Path,
) -> anyhow::Result<Saturated> {
    let _ = std::fs::remove_dir_all(dir);
    let _scratch = Scratch(dir);
    prepare_out_dir(dir)?;
    let mut parts: Parts = fixture.parts(rate, PropagatorRuntime::from(pool.clone()), 1, dir);
    // One pass, then idle until shutdown (the service's default): a source whose stream ran
    // dry stays running, as checkpoints need.
    parts.pacing = Pacing {
        records_per_s: parts.pacing.records_per_s,
        passes: None,
    };
    let mut graph = build_topology(&parts);
    if let Some(interval) = interval {
        graph = graph.with_checkpoints(
            CheckpointConfig::new(dir.join("checkpoints")).with_interval(interval),
        );
    }
    let built = graph.build()?;
    let (shutdown, monitor) = (built.shutdown_handle(), built.monitor());
    let running = built.run(service_policy());
    tokio::pin!(running);
    let started = unix_now();
    let (from, until) = (
        started + warmup.as_secs_f64(),
        started + (warmup + window).as_secs_f64(),
    );
    let end = tokio::time::Instant::now() + warmup + window;
    let mut poll = tokio::time::interval(POLL);
    let mut completed: Vec<Completed> = Vec::new();
    let mut last_seen = None;
    let mut look = |completed: &mut Vec<Completed>| {
        let status = monitor.checkpoints();
        if status.last_completed != last_seen {
            last_seen = status.last_completed;
            if let (Some(at), Some(duration_s), Some(size_bytes)) = (
                status.last_completed_unix_ms,
                status.last_duration_seconds,
                status.last_size_bytes,
            ) {
                completed.push(Completed {
                    at_unix_s: at as f64 / 1e3,
                    duration_s,
                    size_bytes,
                });
            }
        }
    };
    loop {
        tokio::select! {
            outcome = &mut running => anyhow::bail!("the run ended before its window did: {outcome:?}"),
            () = tokio::time::sleep_until(end) => break,
            _ = poll.tick() => look(&mut completed),
        }
    }
    look(&mut completed);
    let snapshot = monitor.snapshot();
    let finished: Vec<&str> = snapshot
        .operators
        .iter()
        .filter(|op| op.role == "source" && op.state == OperatorState::Finished)
        .map(|op| op.name.as_str())
        .collect();
    anyhow::ensure!(finished.is_empty(), "source(s) {finished:?} finished");
    let sent = parts.counters.snapshot_with(|_| 0);
    let ran_dry: Vec<&'static str> = SensorKind::ALL
        .iter()
        .filter(|kind| {
            let frames = sent.sources.get(kind.as_str()).map_or(0, |s| s.frames);
            frames >= fixture.streams.of(**kind).len() as u64
        })
        .map(|kind| kind.as_str())
        .collect();
    let sources_blocked_s = snapshot
        .edges
        .iter()
        .filter(|e| e.name.ends_with("->normalize"))
        .map(|e| e.blocked_seconds)
        .sum();
    let status = monitor.checkpoints();
    shutdown.shutdown();
    let outcome = running.await;
    anyhow::ensure!(outcome.is_clean(), "run ended {outcome:?}");
    let (mut ms, first_half) = window_latencies(dir, from, until)?;
    ms.sort_by(f64::total_cmp);
    let half_s = window.as_secs_f64() / 2.0;
    Ok(Saturated {
        offered_per_s: offered(rate),
        per_s: ms.len() as f64 / window.as_secs_f64(),
        halves_per_s: [
            first_half as f64 / half_s,
            (ms.len() - first_half) as f64 / half_s,
        ],
        p50_ms: quantile(&ms, 0.5),
        p99_ms: quantile(&ms, 0.99),
        in_window: completed
            .into_iter()
            .filter(|c| (from..=until).contains(&c.at_unix_s))
            .collect(),
        abandoned: status.abandoned,
        last_abandoned_reason: status.last_abandoned_reason,
        sources_blocked_s,
        ran_dry,
        bytes_written: dir_bytes(dir),
        audited: parts.counters.snapshot_with(|_| 0).audited,
    })
}

/// `written_at − received_at`, ms, of every audit record written in `[from, until]` (Unix
/// seconds), read a line at a time (the file is large); and how many of them were written in
/// the first half of that window.
fn window_latencies(dir: &Path, from: f64, until: f64) -> anyhow::Result<(Vec<f64>, usize)> {
    #[derive(serde::Deserialize)]
    struct Line {
        received_at: Option<f64>,
        written_at: f64,
    }
    let path = dir.join(files::AUDIT);
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut ms, mut first_half) = (Vec::new(), 0);
    let middle = (from + until) / 2.0;
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let line = line?;
        // The audit trail's chain lines seal the records; they are not records.
        if sda_ingest::audit_chain::is_chain_line(line.as_bytes()) {
            continue;
        }
        let l: Line = serde_json::from_str(&line)?;
        if (from..=until).contains(&l.written_at) {
            let received = l.received_at.context("audit record without received_at")?;
            ms.push((l.written_at - received) * 1e3);
            if l.written_at < middle {
                first_half += 1;
            }
        }
    }
    Ok((ms, first_half))
}

/// The bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes free for an unprivileged user on the file system holding `dir` (from `df`), if it
/// can be read.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let existing: PathBuf = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(existing)
        .output()
        .ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// The number of records in each of `streams`' eight streams (an optical page counts its
/// records), by source name.
pub(crate) fn stream_lengths(streams: &Streams) -> Vec<(&'static str, u64)> {
    SensorKind::ALL
        .iter()
        .map(|&kind| {
            let messages = streams.of(kind).len() as u64;
            let records = match kind {
                SensorKind::Optical => messages * OPTICAL_PAGE_LEN as u64,
                _ => messages,
            };
            (kind.as_str(), records)
        })
        .collect()
}

/// A scenario sized for saturated runs.
pub(crate) struct Sized {
    pub(crate) fixture: Fixture,
    /// The sweep cadence it was generated with, seconds.
    pub(crate) cadence_s: f64,
    /// Records in the whole scenario, before the streams were cut.
    pub(crate) generated: u64,
}

/// The records each source must hold to keep a backlog through a run of `run_s` seconds
/// that writes `capacity` records per second offered `offered_per_source` records per second
/// per source, by source.
///
/// The fan-in into `normalize` takes a batch from each backlogged edge in turn, so the sources
/// share what the pipeline takes by messages: each of the (at least) seven sources of one
/// record a message gets at most a seventh of it; an optical page holds 25 records, so the
/// optical source gets what it is offered, no more. A third more than that, for the noise.
pub(crate) fn needs(capacity: f64, offered_per_source: f64, run_s: f64) -> Vec<(SensorKind, u64)> {
    SensorKind::ALL
        .iter()
        .map(|&kind| {
            let per_message = records_per_message(kind) as f64;
            let per_s = offered_per_source.min(capacity / 7.0 * per_message);
            (kind, (per_s * run_s * 4.0 / 3.0).ceil() as u64)
        })
        .collect()
}

fn records_per_message(kind: SensorKind) -> u64 {
    match kind {
        SensorKind::Optical => OPTICAL_PAGE_LEN as u64,
        _ => 1,
    }
}

/// Generates the default scenario with every stream holding its records of `needs`: with a
/// sweep every `probe_cadence_s` × the largest shortfall in `probe` (a scenario generated with
/// `probe_cadence_s`), no finer than `min_cadence_s`; then cuts each stream to its need, which
/// is all a run can send, so that the replay's copies stay small.
pub(crate) fn sized(
    probe: &Streams,
    probe_cadence_s: f64,
    needs: &[(SensorKind, u64)],
    min_cadence_s: f64,
) -> anyhow::Result<Sized> {
    let lengths = stream_lengths(probe);
    let shortfall = needs
        .iter()
        .zip(&lengths)
        .map(|((_, need), (_, have))| *need as f64 / (*have).max(1) as f64)
        .fold(1.0, f64::max);
    // Records scale with 1 / cadence; 5 % more, as they are not exactly proportional.
    let cadence_s = (probe_cadence_s / (shortfall * 1.05)).clamp(min_cadence_s, probe_cadence_s);
    // Held once: the scenario keeps no copy of its streams.
    let mut fixture = Fixture::generate_moving_streams(cadence_s)?;
    let generated = stream_lengths(&fixture.streams)
        .iter()
        .map(|(_, n)| n)
        .sum();
    let mut streams: Streams = std::sync::Arc::try_unwrap(std::mem::take(&mut fixture.streams))
        .unwrap_or_else(|shared| (*shared).clone());
    for &(kind, need) in needs {
        let messages = need.div_ceil(records_per_message(kind)) as usize;
        let stream = match kind {
            SensorKind::Radar => &mut streams.radar,
            SensorKind::Isl => &mut streams.isl,
            SensorKind::Optical => &mut streams.optical,
            other => streams.synthetic.entry(other).or_default(),
        };
        stream.truncate(messages);
        stream.shrink_to_fit();
    }
    fixture.streams = std::sync::Arc::new(streams);
    Ok(Sized {
        fixture,
        cadence_s,
        generated,
    })
}
