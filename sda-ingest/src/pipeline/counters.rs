//! Shared pipeline counters and the accounting identities they obey.
//!
//! Units are *records*: one observation-carrying message (a radar datagram, an ISL state frame,
//! one record of an optical page, one synthetic record), or one message that failed to decode.
//! ISL heartbeats carry no record and are counted apart. Every record is counted against the
//! **source** (stream) that read it, at the boundary where its fate is decided:
//!
//! * `frames`: messages a source read from the outside world (datagrams, ISL frames with
//!   heartbeats, optical pages, synthetic messages), counted by the source once it has handed
//!   them to the pipeline.
//! * `frames_decoded`: messages `normalize` decoded (or failed to decode).
//! * `read`: records: each record `normalize` decoded and each message it could not decode.
//! * `accepted`: records that passed `validate`.
//! * `duplicates`: accepted records that `dedup` dropped as re-sends.
//! * `delivered`: observations whose line is in `observations.jsonl` (bytes written).
//!   A sink that continues an existing file counts an observation or a dead letter whose id
//!   the file already holds (a replay or redelivery after a crash) as a duplicate of its source
//!   too.
//! * `dead_lettered`: records whose dead letter is in `dead_letter.jsonl`, or was counted but
//!   not written because the dead-letter rate limit suppressed it (`suppressed`).
//! * `late`: records `validate` turned into dead letters with reason `late` (their event-time
//!   window had closed); they are counted in `dead_lettered` like any dead letter.
//! * `unwritten`: records a sink failed to write.
//! * `dropped` (in a [`SourceSnapshot`]): records lost on the way: messages a source read that
//!   never reached `normalize` (each counted as one record, as an undecodable message is), and
//!   records the observations and dead-letter sinks failed to write.
//!
//! After a clean drain, per source: `frames = frames_decoded + frames lost in flight`, and
//! `read = delivered + dead_lettered + duplicates + dropped`. The totals add up the sources.

use std::sync::atomic::{AtomicU64, Ordering};

use sda_ingest_core::SensorKind;
use serde::Serialize;

/// The counters of one source (stream).
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Messages the source read and handed on.
    pub frames: AtomicU64,
    /// Messages `normalize` decoded or failed to decode.
    pub frames_decoded: AtomicU64,
    /// Records `normalize` produced: decoded records and undecodable messages.
    pub read: AtomicU64,
    /// Records that passed `validate`.
    pub accepted: AtomicU64,
    /// Re-sends dropped by `dedup`.
    pub duplicates: AtomicU64,
    /// Observations written to `observations.jsonl`.
    pub delivered: AtomicU64,
    /// Dead letters written to `dead_letter.jsonl` or suppressed by the rate limit.
    pub dead_lettered: AtomicU64,
    /// Dead letters counted but not written: the dead-letter rate limit suppressed them.
    pub suppressed: AtomicU64,
    /// Records dead-lettered as `late`: they arrived after their event-time window closed
    /// (counted in `dead_lettered` too).
    pub late: AtomicU64,
    /// Records the observations or dead-letter sink failed to write.
    pub unwritten: AtomicU64,
}

/// Atomic counters updated by the sources, operators and sinks; share one behind an `Arc`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Per source, indexed by [`SensorKind::index`].
    sources: [SourceCounters; SensorKind::COUNT],
    /// ISL heartbeat frames (no record).
    pub heartbeats: AtomicU64,
    /// Observations the correlator matched to a catalog object.
    pub associated: AtomicU64,
    /// Observations the correlator could not match.
    pub unassociated: AtomicU64,
    /// Observations that reached the correlator after their window closed (delivered, not
    /// fused); `validate` dead-letters late records first, so this stays 0 unless a watermark
    /// overtook a record.
    pub correlator_late: AtomicU64,
    /// Conjunction screenings run on the propagator pool.
    pub screenings: AtomicU64,
    /// Alerts written by the alerts sink.
    pub alerts: AtomicU64,
    /// Alerts the alerts sink failed to write.
    pub alerts_unwritten: AtomicU64,
    /// Records written by the audit sink.
    pub audited: AtomicU64,
    /// Records the audit sink failed to write.
    pub audit_unwritten: AtomicU64,
    /// Audit records, alerts and dead letters that a sink continuing its file skipped because
    /// the file already held their id (observations skipped so count as `duplicates` of their
    /// source only; dead letters as `duplicates` of their source too, which keeps each source's
    /// identity).
    pub already_written: AtomicU64,
    /// Datagrams the kernel dropped before the radar source read them (never received).
    pub kernel_dropped: AtomicU64,
    /// Datagrams from addresses outside the radar allowlist: counted, never decoded.
    pub disallowed: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counters {
    /// The counters of `source`.
    pub fn source(&self, source: SensorKind) -> &SourceCounters {
        &self.sources[source.index()]
    }

    /// Reads every counter. `frames_lost` gives, per source, the messages lost between the
    /// source and `normalize` as the orchestrator counted them (see [`Counters`]); pass
    /// `|_| 0` while the pipeline runs.
    pub fn snapshot_with(&self, frames_lost: impl Fn(SensorKind) -> u64) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let sources: Vec<(SensorKind, SourceSnapshot)> = SensorKind::ALL
            .into_iter()
            .map(|kind| {
                let s = self.source(kind);
                let lost = frames_lost(kind);
                let snapshot = SourceSnapshot {
                    frames: get(&s.frames),
                    frames_decoded: get(&s.frames_decoded),
                    frames_lost: lost,
                    read: get(&s.read) + lost,
                    accepted: get(&s.accepted),
                    delivered: get(&s.delivered),
                    dead_lettered: get(&s.dead_lettered),
                    duplicates: get(&s.duplicates),
                    dropped: lost + get(&s.unwritten),
                    suppressed: get(&s.suppressed),
                    late: get(&s.late),
                };
                (kind, snapshot)
            })
            .collect();
        let total = |f: fn(&SourceSnapshot) -> u64| sources.iter().map(|(_, s)| f(s)).sum::<u64>();
        let (received, delivered, dead_lettered, duplicates) = (
            total(|s| s.read),
            total(|s| s.delivered),
            total(|s| s.dead_lettered),
            total(|s| s.duplicates),
        );
        let audited = get(&self.audited);
        let audit_unwritten = get(&self.audit_unwritten);
        let unwritten =
            total(|s| s.dropped - s.frames_lost) + audit_unwritten + get(&self.alerts_unwritten);
        CounterSnapshot {
            frames: total(|s| s.frames),
            frames_decoded: total(|s| s.frames_decoded),
            heartbeats: get(&self.heartbeats),
            received,
            accepted: total(|s| s.accepted),
            delivered,
            dead_lettered,
            duplicates,
            lost: received.saturating_sub(delivered + dead_lettered + duplicates) + audit_unwritten,
            unwritten,
            dead_letters_suppressed: total(|s| s.suppressed),
            late: total(|s| s.late),
            kernel_dropped: get(&self.kernel_dropped),
            disallowed: get(&self.disallowed),
            associated: get(&self.associated),
            unassociated: get(&self.unassociated),
            screenings: get(&self.screenings),
            alerts: get(&self.alerts),
            audited,
            already_written: get(&self.already_written),
            sources: sources
                .into_iter()
                .map(|(kind, s)| (kind.as_str(), s))
                .collect(),
        }
    }

    /// Reads every counter while the pipeline runs (nothing is known lost in flight yet).
    pub fn snapshot(&self) -> CounterSnapshot {
        self.snapshot_with(|_| 0)
    }
}

/// One source's counters at one moment; see [`Counters`] for their definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceSnapshot {
    /// Messages the source read and handed on.
    pub frames: u64,
    /// Messages `normalize` decoded or failed to decode.
    pub frames_decoded: u64,
    /// Messages lost between the source and `normalize`.
    pub frames_lost: u64,
    /// Records read: decoded, undecodable, or lost before they could be decoded.
    pub read: u64,
    /// Records that passed `validate`.
    pub accepted: u64,
    /// Observations written to `observations.jsonl`.
    pub delivered: u64,
    /// Dead letters written or suppressed.
    pub dead_lettered: u64,
    /// Re-sends dropped by `dedup`.
    pub duplicates: u64,
    /// Records lost: in flight before `normalize`, or unwritten by a sink.
    pub dropped: u64,
    /// Dead letters counted but not written (rate limit).
    pub suppressed: u64,
    /// Records `validate` dead-lettered as `late` (part of `dead_lettered` once written).
    pub late: u64,
}

impl SourceSnapshot {
    /// Whether both identities hold: every message read was decoded or lost in flight
    /// (`frames = frames_decoded + frames_lost`), and every record read has a fate
    /// (`read = delivered + dead_lettered + duplicates + dropped`). True after a clean drain;
    /// while the pipeline runs, the differences are what is in flight.
    pub fn balances(&self) -> bool {
        self.frames == self.frames_decoded + self.frames_lost
            && self.read == self.delivered + self.dead_lettered + self.duplicates + self.dropped
    }
}

/// A plain copy of [`Counters`] at one moment, with the totals and `lost` derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Messages read by every source.
    pub frames: u64,
    /// Messages `normalize` decoded or failed to decode.
    pub frames_decoded: u64,
    /// ISL heartbeat frames (no record).
    pub heartbeats: u64,
    /// Records read by every source (see [`SourceSnapshot::read`]).
    pub received: u64,
    /// Records that passed `validate`.
    pub accepted: u64,
    /// Observations written to `observations.jsonl`.
    pub delivered: u64,
    /// Dead letters written or suppressed.
    pub dead_lettered: u64,
    /// Re-sends dropped by `dedup`.
    pub duplicates: u64,
    /// `received − (delivered + dead_lettered + duplicates)`, plus the records the audit sink
    /// failed to write: in flight while running, and lost (must be zero) once drained.
    pub lost: u64,
    /// Records (and alerts) a sink failed to write.
    pub unwritten: u64,
    /// Dead letters counted but not written because of the rate limit.
    pub dead_letters_suppressed: u64,
    /// Records dead-lettered as `late`: after their event-time window closed.
    pub late: u64,
    /// Radar datagrams the kernel dropped before the source read them: never received.
    pub kernel_dropped: u64,
    /// Radar datagrams from addresses outside the allowlist, dropped undecoded.
    pub disallowed: u64,
    /// Observations the correlator matched to a catalog object.
    pub associated: u64,
    /// Observations the correlator could not match.
    pub unassociated: u64,
    /// Conjunction screenings run on the propagator pool.
    pub screenings: u64,
    /// Alerts written to `alerts.jsonl`.
    pub alerts: u64,
    /// Records written to `audit.jsonl`.
    pub audited: u64,
    /// Audit records and alerts a continuing sink skipped: their file already held their id.
    pub already_written: u64,
    /// Per source, by name.
    pub sources: std::collections::BTreeMap<&'static str, SourceSnapshot>,
}
