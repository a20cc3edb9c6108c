//! Pacing: how many of a stream's messages have come due, the one rule every simulated sender
//! follows (the in-process replay, the UDP sender, the ISL server, the HTTP archive, and the
//! hand-wired benchmark baseline).

use std::time::Duration;

/// How often a paced sender wakes up to send what has come due.
pub const TICK: Duration = Duration::from_millis(20);

/// Records per second each simulated source sends at `--rate 1`.
pub const BASE_RECORDS_PER_S: f64 = 25.0;

/// How fast and how often a simulated stream is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// Records per second (an optical page counts as
    /// [`OPTICAL_PAGE_LEN`](sda_ingest_core::sim::scenario::OPTICAL_PAGE_LEN) records).
    pub records_per_s: f64,
    /// Replays before the stream ends; `None` replays once and then stays quiet until shutdown.
    pub passes: Option<u32>,
}

impl Pacing {
    /// Messages in `passes` replays of a stream of `len` messages (one replay when unset).
    pub fn total(&self, len: usize) -> u64 {
        len as u64 * u64::from(self.passes.unwrap_or(1))
    }

    /// Messages per second for a stream whose messages carry `records_per_message` records
    /// each; never zero, so a schedule always advances.
    pub fn messages_per_s(&self, records_per_message: f64) -> f64 {
        (self.records_per_s / records_per_message.max(1.0)).max(f64::MIN_POSITIVE)
    }
}

/// The message number (counting across passes) up to which messages are due `elapsed` after
/// message `first` was sent, at `per_s` messages per second, capped at `total`: the first
/// message is due at once, then one every `1 / per_s` seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_ingest::simulator::pacing::due;
///
/// assert_eq!(due(0, Duration::ZERO, 10.0, 100), 1);
/// assert_eq!(due(0, Duration::from_millis(250), 10.0, 100), 3);
/// assert_eq!(due(40, Duration::from_secs(60), 10.0, 100), 100);
/// ```
pub fn due(first: u64, elapsed: Duration, per_s: f64, total: u64) -> u64 {
    (first + (elapsed.as_secs_f64() * per_s) as u64 + 1).min(total)
}
