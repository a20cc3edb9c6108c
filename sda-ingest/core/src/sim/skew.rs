//! Out-of-order and late delivery of a sensor's stream: the order in which a real network and
//! a real sensor's buffering would hand its messages over, as opposed to the order they were
//! measured in.
//!
//! Each message is given a delivery delay in event time (uniform in `[0, max_delay_s)`, or
//! `late_delay_s` for a seeded fraction of them) and the stream is stably re-sorted by epoch
//! plus delay. A message that carries no readable epoch (damaged on purpose, a heartbeat)
//! keeps its neighbour's place. A source whose out-of-orderness bound is at least
//! `max_delay_s` never sees the ordinary delays fall behind its watermark; the late ones
//! (`late_delay_s` beyond the bound plus the allowed lateness) arrive after their window
//! closed.

use serde::{Deserialize, Serialize};

use crate::wire::{WireFormat, latest_epoch};

/// How one sensor's stream is delivered out of order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skew {
    /// Ordinary delivery delays are uniform in `[0, max_delay_s)`, seconds of event time.
    #[serde(default)]
    pub max_delay_s: f64,
    /// Fraction of the messages delivered `late_delay_s` after their epoch instead, `[0, 1]`.
    #[serde(default)]
    pub late_fraction: f64,
    /// The delay of the late messages, seconds of event time.
    #[serde(default)]
    pub late_delay_s: f64,
}

impl Skew {
    /// Whether this skew leaves the stream as it is.
    pub fn is_none(&self) -> bool {
        self.max_delay_s <= 0.0 && (self.late_fraction <= 0.0 || self.late_delay_s <= 0.0)
    }
}

/// Re-orders `messages` (of `format`) as `skew` delivers them, drawing the delays from `seed`;
/// returns the positions, in the original order, of the messages given the late delay.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::sim::skew::{Skew, skew_messages};
/// use sda_ingest_core::wire::WireFormat;
///
/// let record = |seq: u32, epoch_s: i64| format!(
///     r#"{{"sensor":"slr-1","seq":{seq},"epoch_us":{},"kind":"laser_ranging","range_m":8.0e5}}"#,
///     epoch_s * 1_000_000,
/// ).into_bytes();
/// let mut messages: Vec<Vec<u8>> = (0..50).map(|n| record(n, 1_000 + 60 * i64::from(n))).collect();
/// let original = messages.clone();
/// let skew = Skew { max_delay_s: 300.0, late_fraction: 0.1, late_delay_s: 3_000.0 };
/// let late = skew_messages(&mut messages, WireFormat::Synthetic, &skew, 7);
/// assert!(!late.is_empty());
/// assert_ne!(messages, original); // out of order
/// let mut sorted = messages.clone();
/// sorted.sort();
/// let mut expected = original.clone();
/// expected.sort();
/// assert_eq!(sorted, expected); // nothing lost, nothing added
/// ```
pub fn skew_messages(
    messages: &mut Vec<Vec<u8>>,
    format: WireFormat,
    skew: &Skew,
    seed: u64,
) -> Vec<usize> {
    if skew.is_none() || messages.is_empty() {
        return Vec::new();
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut late = Vec::new();
    let mut previous = f64::NEG_INFINITY;
    let mut keyed: Vec<(f64, usize, Vec<u8>)> = Vec::with_capacity(messages.len());
    for (n, message) in std::mem::take(messages).into_iter().enumerate() {
        let epoch = latest_epoch(format, &message).unwrap_or(previous);
        previous = epoch;
        let delay = if rng.f64() < skew.late_fraction.clamp(0.0, 1.0) {
            late.push(n);
            skew.late_delay_s.max(0.0)
        } else {
            rng.f64() * skew.max_delay_s.max(0.0)
        };
        keyed.push((epoch + delay, n, message));
    }
    keyed.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    messages.extend(keyed.into_iter().map(|(_, _, m)| m));
    late
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_skew_keeps_the_order_and_the_delays_are_bounded() {
        let record = |seq: u32, epoch_s: i64| {
            format!(
                r#"{{"sensor":"slr-1","seq":{seq},"epoch_us":{},"kind":"laser_ranging","range_m":8.0e5}}"#,
                epoch_s * 1_000_000
            )
            .into_bytes()
        };
        let original: Vec<Vec<u8>> = (0..200).map(|n| record(n, 60 * i64::from(n))).collect();
        let mut same = original.clone();
        assert!(skew_messages(&mut same, WireFormat::Synthetic, &Skew::default(), 1).is_empty());
        assert_eq!(same, original);

        // Delays under 150 s, one sweep every 60 s: a message moves at most two places back.
        let mut skewed = original.clone();
        let skew = Skew {
            max_delay_s: 150.0,
            ..Skew::default()
        };
        skew_messages(&mut skewed, WireFormat::Synthetic, &skew, 3);
        assert_ne!(skewed, original);
        for (at, message) in skewed.iter().enumerate() {
            let was = original.iter().position(|m| m == message).unwrap();
            assert!(at + 2 >= was && at <= was + 2, "{was} delivered at {at}");
        }
    }
}
