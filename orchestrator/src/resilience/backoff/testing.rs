//! Helpers for reproducing and checking schedules: a scripted RNG and the published,
//! unclamped decorrelated formula. They exist with the `test-util` feature only, since
//! production code has no use for them.

use std::time::Duration;

use super::JitterRng;

/// A deterministic [`JitterRng`] that cycles through a fixed list of numbers.
///
/// Values are clamped into `[0, 1]` so a typo in a test cannot push a delay outside the documented
/// range. An empty list yields `0.0` forever.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::{JitterRng, SequenceRng};
///
/// let mut rng = SequenceRng::new(vec![0.5, 0.25]);
/// assert_eq!(rng.next_unit(), 0.5);
/// assert_eq!(rng.next_unit(), 0.25);
/// assert_eq!(rng.next_unit(), 0.5); // it cycles
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceRng {
    values: Vec<f64>,
    position: usize,
}

impl SequenceRng {
    /// Creates an RNG that yields `values` in order, then starts again from the first.
    pub fn new(values: Vec<f64>) -> Self {
        Self {
            values,
            position: 0,
        }
    }
}

impl JitterRng for SequenceRng {
    fn next_unit(&mut self) -> f64 {
        let Some(value) = self.values.get(self.position).copied() else {
            return 0.0;
        };
        self.position = (self.position + 1) % self.values.len();
        if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        }
    }
}

/// One step of the *unclamped* decorrelated formula as published: `min(cap, base + u * (3 *
/// previous - base))`, for comparison with [`Backoff`](super::Backoff)'s clamped schedule and for
/// checking the published test vector.
///
/// Pass `Duration::MAX` as `cap` to see the raw draw. `u` is clamped into `[0, 1]`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::decorrelated_unclamped;
///
/// let ms = Duration::from_millis;
/// let base = ms(100);
/// let mut d = base; // d0
/// let mut out = Vec::new();
/// for u in [0.5, 0.25, 0.75, 0.0] {
///     d = decorrelated_unclamped(base, Duration::MAX, d, u);
///     out.push(d);
/// }
/// assert_eq!(out, [ms(200), ms(225), Duration::from_micros(531_250), ms(100)]);
/// ```
pub fn decorrelated_unclamped(
    base: Duration,
    cap: Duration,
    previous: Duration,
    u: f64,
) -> Duration {
    let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
    let high = previous.saturating_mul(3).max(base);
    (base + (high - base).mul_f64(u)).min(cap)
}
