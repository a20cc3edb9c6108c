//! `rand`'s generators as jitter sources, for callers that already seed and share them.

use super::JitterRng;

/// A [`JitterRng`] drawing from a generator of the `rand` crate (feature `rand`): `StdRng`,
/// `SmallRng`, a ChaCha generator, or any other [`rand::Rng`].
///
/// It is an adapter rather than an implementation of [`JitterRng`] for every `rand::Rng`,
/// because [`fastrand::Rng`] already implements `JitterRng` and the compiler cannot rule out
/// that a future `fastrand` implements `rand::Rng` as well; the two implementations would then
/// overlap. Each draw is `rand`'s standard uniform `f64`, in `[0, 1)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rand::SeedableRng;
/// use rand::rngs::SmallRng;
/// use sda_orchestrator::resilience::{Backoff, Jitter, RandRng};
///
/// let ms = Duration::from_millis;
/// let schedule = |seed| {
///     let mut backoff = Backoff::new(ms(100), ms(2_000), Jitter::Decorrelated)
///         .with_rng(RandRng::new(SmallRng::seed_from_u64(seed)));
///     (0..5).map(|_| backoff.next_delay()).collect::<Vec<_>>()
/// };
/// // The same seed gives the same schedule, within the bounds.
/// assert_eq!(schedule(42), schedule(42));
/// assert!(schedule(42).iter().all(|d| (ms(100)..=ms(2_000)).contains(d)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandRng<R>(R);

impl<R> RandRng<R> {
    /// Wraps `rng`.
    pub fn new(rng: R) -> Self {
        RandRng(rng)
    }

    /// The wrapped generator, in the state the draws so far left it.
    pub fn into_inner(self) -> R {
        self.0
    }
}

impl<R: rand::Rng + Send + 'static> JitterRng for RandRng<R> {
    fn next_unit(&mut self) -> f64 {
        rand::RngExt::random::<f64>(&mut self.0)
    }
}
