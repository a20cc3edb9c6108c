//! Shared pipeline counters and the accounting identity they obey.
//!
//! Units are *records*: one observation-carrying message (a radar datagram, an ISL state
//! frame, one record of an optical page, one synthetic record), or one message that failed to
//! decode. ISL heartbeats carry no record and are counted apart.
//!
//! * `received`: records that reached `normalize` (decoded, or failed to decode).
//! * `accepted`: records that passed `validate`.
//! * `dead_lettered`: records written to `dead_letter.jsonl` (decode and validation failures).
//! * `duplicates`: accepted records that `dedup` dropped as re-sends.
//! * `delivered`: observations written to `observations.jsonl`.
//!
//! On a run that drained, `received = accepted + dead_lettered` and
//! `accepted = delivered + duplicates`, so `lost = received − (delivered + dead_lettered +
//! duplicates)` is zero; while running, `lost` is what is still in flight.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Atomic counters updated by the operators and sinks; share one behind an `Arc`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Raw frames emitted by the sources.
    pub frames: AtomicU64,
    /// ISL heartbeat frames (no record).
    pub heartbeats: AtomicU64,
    /// Records that reached `normalize`.
    pub received: AtomicU64,
    /// Records that passed `validate`.
    pub accepted: AtomicU64,
    /// Observations written by the observations sink.
    pub delivered: AtomicU64,
    /// Records written by the dead-letter sink.
    pub dead_lettered: AtomicU64,
    /// Re-sends dropped by `dedup`.
    pub duplicates: AtomicU64,
    /// Observations the correlator matched to a catalog object.
    pub associated: AtomicU64,
    /// Observations the correlator could not match.
    pub unassociated: AtomicU64,
    /// Conjunction screenings run on the propagator pool.
    pub screenings: AtomicU64,
    /// Alerts written by the alerts sink.
    pub alerts: AtomicU64,
    /// Records written by the audit sink.
    pub audited: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A plain copy of [`Counters`] at one moment, with `lost` derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// See [`Counters::frames`].
    pub frames: u64,
    /// See [`Counters::heartbeats`].
    pub heartbeats: u64,
    /// See [`Counters::received`].
    pub received: u64,
    /// See [`Counters::accepted`].
    pub accepted: u64,
    /// See [`Counters::delivered`].
    pub delivered: u64,
    /// See [`Counters::dead_lettered`].
    pub dead_lettered: u64,
    /// See [`Counters::duplicates`].
    pub duplicates: u64,
    /// `received − (delivered + dead_lettered + duplicates)`: in flight while running, and
    /// lost (must be zero) once drained.
    pub lost: u64,
    /// See [`Counters::associated`].
    pub associated: u64,
    /// See [`Counters::unassociated`].
    pub unassociated: u64,
    /// See [`Counters::screenings`].
    pub screenings: u64,
    /// See [`Counters::alerts`].
    pub alerts: u64,
    /// See [`Counters::audited`].
    pub audited: u64,
}

impl Counters {
    /// Reads every counter.
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (received, delivered, dead_lettered, duplicates) = (
            get(&self.received),
            get(&self.delivered),
            get(&self.dead_lettered),
            get(&self.duplicates),
        );
        CounterSnapshot {
            frames: get(&self.frames),
            heartbeats: get(&self.heartbeats),
            received,
            accepted: get(&self.accepted),
            delivered,
            dead_lettered,
            duplicates,
            lost: received.saturating_sub(delivered + dead_lettered + duplicates),
            associated: get(&self.associated),
            unassociated: get(&self.unassociated),
            screenings: get(&self.screenings),
            alerts: get(&self.alerts),
            audited: get(&self.audited),
        }
    }
}
