//! Backoff schedules: decorrelated jitter (clamped), full jitter and plain exponential.
//!
//! This file holds the schedule; its random numbers, the adapter for `rand`'s generators and
//! the test helpers have a file each.

#[cfg(feature = "rand")]
mod rand_adapter;
mod rng;
#[cfg(feature = "test-util")]
mod testing;

use std::fmt;
use std::time::Duration;

#[cfg(feature = "rand")]
pub use rand_adapter::RandRng;
pub use rng::JitterRng;
#[cfg(feature = "test-util")]
pub use testing::{SequenceRng, decorrelated_unclamped};

/// How [`Backoff`] spreads delays to keep clients that failed together from retrying together.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::Jitter;
///
/// assert_eq!(Jitter::default(), Jitter::Decorrelated);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Decorrelated jitter with the ceiling clamped before drawing (the default):
    /// `d_0 = base`, `d_k = uniform(base, min(cap, 3 * d_{k-1}))`.
    #[default]
    Decorrelated,
    /// Full jitter: `d_k = uniform(0, min(cap, base * 2^k))`.
    Full,
    /// No jitter, plain capped exponential: `d_k = min(cap, base * 2^k)`. Kept for comparison;
    /// clients that fail together retry together. With `base == cap` it is a fixed delay.
    None,
}

/// A stateful backoff schedule: each call to [`next_delay`](Backoff::next_delay) returns the
/// delay to wait before the next attempt.
///
/// # Schedule
///
/// `k` counts the delays handed out since creation or the last [`reset`](Backoff::reset),
/// starting at 0, and `u` is the next number from the RNG (uniform in `[0, 1)`).
///
/// * [`Jitter::Decorrelated`] (default), after AWS's "Exponential Backoff And Jitter":
///   `d_0 = base` is the seed (never returned), and the `k`-th call returns
///   `d_{k+1} = base + u * (min(cap, 3 * d_k) - base)`, that is
///   `uniform(base, min(cap, 3 * d_k))`. The first delay is therefore uniform in
///   `[base, min(cap, 3 * base)]`.
/// * [`Jitter::Full`]: `d_k = u * min(cap, base * 2^k)`.
/// * [`Jitter::None`]: `d_k = min(cap, base * 2^k)`.
///
/// Every delay lies in `[0, cap]` (and in `[base, cap]` for decorrelated jitter); if `cap <
/// base`, `cap` wins.
///
/// **Why the ceiling is clamped before drawing.** The published decorrelated formula is
/// `d_k = min(cap, uniform(base, 3 * d_{k-1}))`. Once `3 * d_{k-1}` exceeds `cap`, every draw
/// above `cap` is clamped to exactly `cap`, and since those draws keep `d_{k-1}` at `cap` the
/// next interval is `[base, 3 * cap]`, of which two thirds clamp to `cap` again: most long-running
/// clients end up retrying at exactly `cap`, in lockstep, which is the herd the jitter was meant
/// to break up. Clamping the ceiling first keeps every draw uniform over `[base, cap]`. The
/// unclamped formula is still available, for comparison and tests, as
/// `resilience::decorrelated_unclamped` (feature `test-util`).
///
/// # Examples
///
/// The draws are scripted here, through the [`JitterRng`] trait, so that the delays are exact:
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::{Backoff, Jitter, JitterRng};
///
/// /// Hands out the given draws in turn, round and round.
/// struct Draws(Vec<f64>, usize);
///
/// impl JitterRng for Draws {
///     fn next_unit(&mut self) -> f64 {
///         let u = self.0[self.1 % self.0.len()];
///         self.1 += 1;
///         u
///     }
/// }
///
/// let ms = Duration::from_millis;
/// // base 100 ms, cap 400 ms: the cap bites from the second delay on.
/// let mut backoff = Backoff::new(ms(100), ms(400), Jitter::Decorrelated)
///     .with_rng(Draws(vec![0.5, 0.25, 0.75, 0.0], 0));
///
/// assert_eq!(backoff.next_delay(), ms(200)); // 100 + 0.5  * (min(400, 3 * 100) - 100)
/// assert_eq!(backoff.next_delay(), ms(175)); // 100 + 0.25 * (min(400, 3 * 200) - 100)
/// assert_eq!(backoff.next_delay(), ms(325)); // 100 + 0.75 * (min(400, 3 * 175) - 100)
/// assert_eq!(backoff.next_delay(), ms(100)); // 100 + 0.0  * (min(400, 3 * 325) - 100)
///
/// backoff.reset(); // back to d0 = base; the RNG cycles to 0.5 again
/// assert_eq!(backoff.next_delay(), ms(200));
/// ```
///
/// While the cap does not bite, clamped and unclamped agree: with the draws 0.5, 0.25, 0.75
/// and 0 both give the delays of the published formula's worked example:
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::{Backoff, Jitter};
/// # use sda_orchestrator::resilience::JitterRng;
/// # /// Hands out the given draws in turn, round and round.
/// # struct Draws(Vec<f64>, usize);
/// # impl JitterRng for Draws {
/// #     fn next_unit(&mut self) -> f64 {
/// #         let u = self.0[self.1 % self.0.len()];
/// #         self.1 += 1;
/// #         u
/// #     }
/// # }
///
/// let ms = Duration::from_millis;
/// let mut backoff = Backoff::new(ms(100), Duration::from_secs(10), Jitter::Decorrelated)
///     .with_rng(Draws(vec![0.5, 0.25, 0.75, 0.0], 0));
/// let delays: Vec<_> = (0..4).map(|_| backoff.next_delay()).collect();
/// assert_eq!(delays, [ms(200), ms(225), Duration::from_micros(531_250), ms(100)]);
/// ```
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    /// Number of delays handed out since the last reset.
    attempt: u32,
    /// The previous delay (`base` after a reset), the decorrelated schedule's only state.
    previous: Duration,
    rng: Box<dyn JitterRng>,
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base)
            .field("cap", &self.cap)
            .field("jitter", &self.jitter)
            .field("attempt", &self.attempt)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl Backoff {
    /// Creates a schedule with an RNG seeded from entropy.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::resilience::{Backoff, Jitter};
    ///
    /// let ms = Duration::from_millis;
    /// let mut backoff = Backoff::new(ms(100), Duration::from_secs(10), Jitter::default());
    /// let delay = backoff.next_delay();
    /// // The first decorrelated delay is uniform in [base, 3 * base].
    /// assert!(delay >= ms(100) && delay <= ms(300));
    /// ```
    pub fn new(base: Duration, cap: Duration, jitter: Jitter) -> Self {
        Self {
            base,
            cap,
            jitter,
            attempt: 0,
            previous: base.min(cap),
            rng: Box::new(fastrand::Rng::new()),
        }
    }

    /// Replaces the RNG, for reproducible schedules (tests, simulations).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::resilience::{Backoff, Jitter};
    ///
    /// let make = || {
    ///     Backoff::new(Duration::from_millis(100), Duration::from_secs(10), Jitter::Full)
    ///         .with_rng(fastrand::Rng::with_seed(42))
    /// };
    /// let (mut a, mut b) = (make(), make());
    /// for _ in 0..5 {
    ///     assert_eq!(a.next_delay(), b.next_delay());
    /// }
    /// ```
    pub fn with_rng(mut self, rng: impl JitterRng) -> Self {
        self.rng = Box::new(rng);
        self
    }

    /// The jitter strategy of this schedule.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// How many delays were handed out since creation or the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Returns the next delay of the schedule and advances it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::resilience::{Backoff, Jitter};
    ///
    /// let ms = Duration::from_millis;
    /// let mut backoff = Backoff::new(ms(100), ms(1000), Jitter::None);
    /// let delays: Vec<_> = (0..6).map(|_| backoff.next_delay()).collect();
    /// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
    /// ```
    pub fn next_delay(&mut self) -> Duration {
        let delay = match self.jitter {
            Jitter::Decorrelated => self.next_decorrelated(),
            Jitter::Full => {
                let ceiling = exponential(self.base, self.cap, self.attempt);
                ceiling.mul_f64(self.rng.next_unit())
            }
            Jitter::None => exponential(self.base, self.cap, self.attempt),
        };
        self.attempt = self.attempt.saturating_add(1);
        self.previous = delay;
        delay
    }

    /// Starts the schedule again from `d_0`, typically after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.previous = self.base.min(self.cap);
    }

    fn next_decorrelated(&mut self) -> Duration {
        // `base` above `cap` would make the interval empty; the cap is the hard promise.
        let floor = self.base.min(self.cap);
        let ceiling = self.previous.saturating_mul(3).min(self.cap).max(floor);
        floor + (ceiling - floor).mul_f64(self.rng.next_unit())
    }
}

/// `min(cap, base * 2^attempt)`, without overflow.
fn exponential(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}
