//! Event time and watermarks: when an item *happened*, as opposed to when it is processed.
//!
//! An item type says when it happened by implementing [`Timestamped`], in its own terms (a
//! sensor epoch, a log line's timestamp) converted to the library's one currency,
//! [`EventTime`]: microseconds since the Unix epoch. One currency is what lets a watermark
//! cross an operator whose input and output types differ.
//!
//! A **watermark** `w` on an edge is the producer's promise that no item it sends later on that
//! edge happened before `w`. A source advances its watermark with
//! [`Outbox::advance_watermark`](crate::Outbox::advance_watermark); the watermark travels on
//! every outgoing edge in order with the items (a marker in the queue, behind everything sent
//! before it, taking no room). An inbox's watermark
//! ([`Inbox::watermark`](crate::Inbox::watermark)) is the minimum over its incoming edges, and an
//! operator that does not handle time itself forwards it to its outputs as it advances; an
//! operator that calls `advance_watermark` itself takes over, and from then on only its own
//! watermarks leave it.
//!
//! * Watermarks are monotone per edge and per inbox: an advance to an earlier time is ignored.
//! * An incoming edge that has said nothing (no item, no watermark) for the graph's idle timeout
//!   ([`OperatorGraph::with_idle_timeout`](crate::OperatorGraph::with_idle_timeout)) is marked
//!   idle and left out of the minimum until it speaks again, so a quiet sensor does not hold
//!   event time back for everyone. When it speaks again it rejoins the minimum; the inbox's
//!   watermark never goes back, so until the rejoined edge catches up the watermark holds.
//! * An edge whose producer has finished, and a lossy broadcast edge, are left out of the
//!   minimum. When every edge is left out, the watermark holds its last value.
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use sda_orchestrator::time::{EventTime, Timestamped};
//!
//! #[derive(Clone)]
//! struct Reading {
//!     taken_unix_ms: i64,
//! }
//!
//! impl Timestamped for Reading {
//!     fn event_time(&self) -> EventTime {
//!         EventTime::from_unix_millis(self.taken_unix_ms)
//!     }
//! }
//!
//! let reading = Reading { taken_unix_ms: 1_500 };
//! assert_eq!(reading.event_time().as_unix_micros(), 1_500_000);
//! assert_eq!(
//!     reading.event_time().to_system_time(),
//!     Some(UNIX_EPOCH + Duration::from_millis(1_500))
//! );
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in event time: microseconds since the Unix epoch (negative before it).
///
/// Ordered, copyable, and serialized as the plain number of microseconds. [`EventTime::MIN`] is
/// reserved by the library to mean "no watermark yet", so the earliest time a watermark can
/// carry is one microsecond later.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::time::EventTime;
///
/// let t = EventTime::from_unix_millis(2_000);
/// assert!(t > EventTime::from_unix_millis(1_999));
/// assert_eq!(t.saturating_sub(Duration::from_millis(500)), EventTime::from_unix_millis(1_500));
/// assert_eq!(EventTime::MAX.saturating_add(Duration::from_secs(1)), EventTime::MAX);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EventTime(i64);

impl EventTime {
    /// The earliest representable time; as a watermark it means "none yet".
    pub const MIN: EventTime = EventTime(i64::MIN);
    /// The latest representable time.
    pub const MAX: EventTime = EventTime(i64::MAX);

    /// The time `micros` microseconds after the Unix epoch.
    pub const fn from_unix_micros(micros: i64) -> Self {
        EventTime(micros)
    }

    /// The time `millis` milliseconds after the Unix epoch, saturating at the ends.
    pub const fn from_unix_millis(millis: i64) -> Self {
        EventTime(millis.saturating_mul(1_000))
    }

    /// The time `seconds` after the Unix epoch, rounded down to the microsecond and saturating
    /// at the ends (`NaN` is the epoch).
    pub fn from_unix_seconds_f64(seconds: f64) -> Self {
        // `as` saturates for floats out of range and maps NaN to 0: what is documented.
        EventTime((seconds * 1e6).floor() as i64)
    }

    /// The given wall-clock time, saturating at the ends.
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => EventTime(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => EventTime(
                i64::try_from(before.duration().as_micros())
                    .map_or(i64::MIN, |micros| micros.saturating_neg()),
            ),
        }
    }

    /// The wall clock now.
    pub fn now() -> Self {
        EventTime::from_system_time(SystemTime::now())
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// The wall-clock time, or `None` for a time the platform's `SystemTime` cannot hold.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let micros = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH.checked_add(micros)
        } else {
            UNIX_EPOCH.checked_sub(micros)
        }
    }

    /// `self + duration`, saturating at [`EventTime::MAX`].
    pub fn saturating_add(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        EventTime(self.0.saturating_add(micros))
    }

    /// `self - duration`, saturating at [`EventTime::MIN`].
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        EventTime(self.0.saturating_sub(micros))
    }
}

impl From<SystemTime> for EventTime {
    fn from(time: SystemTime) -> Self {
        EventTime::from_system_time(time)
    }
}

impl std::fmt::Display for EventTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}us", self.0)
    }
}

/// An item that knows when it happened.
///
/// Implement it on an item type to say, in the type's own terms, what its event time is. The
/// library uses it in [`Inbox::is_late`](crate::Inbox::is_late); a source uses it to choose the
/// watermarks it advances (typically the latest event time seen, less the disorder it
/// tolerates).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use sda_orchestrator::time::{EventTime, Timestamped};
///
/// struct Frame {
///     epoch_seconds: f64,
/// }
///
/// impl Timestamped for Frame {
///     fn event_time(&self) -> EventTime {
///         EventTime::from_unix_seconds_f64(self.epoch_seconds)
///     }
/// }
///
/// // Shared payloads have the event time of what they share.
/// let frame = Arc::new(Frame { epoch_seconds: 1.25 });
/// assert_eq!(frame.event_time(), EventTime::from_unix_micros(1_250_000));
/// ```
pub trait Timestamped {
    /// When the item happened.
    fn event_time(&self) -> EventTime;
}

impl<T: Timestamped + ?Sized> Timestamped for &T {
    fn event_time(&self) -> EventTime {
        (**self).event_time()
    }
}

impl<T: Timestamped + ?Sized> Timestamped for Box<T> {
    fn event_time(&self) -> EventTime {
        (**self).event_time()
    }
}

impl<T: Timestamped + ?Sized> Timestamped for std::sync::Arc<T> {
    fn event_time(&self) -> EventTime {
        (**self).event_time()
    }
}

impl Timestamped for EventTime {
    fn event_time(&self) -> EventTime {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_saturate() {
        let t = EventTime::from_system_time(UNIX_EPOCH + Duration::from_micros(42));
        assert_eq!(t.as_unix_micros(), 42);
        assert_eq!(
            t.to_system_time(),
            Some(UNIX_EPOCH + Duration::from_micros(42))
        );
        let before = EventTime::from_system_time(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(before.as_unix_micros(), -1_000_000);
        assert_eq!(EventTime::from_unix_millis(i64::MAX), EventTime::MAX);
        assert_eq!(
            EventTime::from_unix_seconds_f64(f64::NAN).as_unix_micros(),
            0
        );
        assert_eq!(
            EventTime::MIN.saturating_sub(Duration::from_secs(1)),
            EventTime::MIN
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), "42");
    }
}
