//! Where a backoff schedule's random numbers come from.

/// Source of uniform random numbers in `[0, 1)`, injectable for deterministic tests.
///
/// [`Backoff`](super::Backoff) draws one number per delay. Production code uses
/// [`fastrand::Rng`] (seeded from entropy by [`Backoff::new`](super::Backoff::new)); tests use
/// a seeded `fastrand::Rng`, a scripted implementation of their own, or `SequenceRng` (feature
/// `test-util`), so that the schedule is reproducible. With the feature `rand`, `RandRng` draws
/// from any of `rand`'s generators.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::JitterRng;
///
/// let mut rng = fastrand::Rng::with_seed(7);
/// let u = rng.next_unit();
/// assert!((0.0..1.0).contains(&u));
/// ```
pub trait JitterRng: Send + 'static {
    /// Returns the next number, uniform in `[0, 1)`.
    fn next_unit(&mut self) -> f64;
}

impl JitterRng for fastrand::Rng {
    fn next_unit(&mut self) -> f64 {
        self.f64()
    }
}
