//! `RetryPolicy`: the bounds, schedule and metric label of a retry loop.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::resilience::backoff::{Backoff, Jitter, JitterRng};

/// Where each retry loop gets its RNG from.
#[derive(Clone)]
enum RngSource {
    /// A fresh entropy-seeded RNG per loop (production).
    Entropy,
    /// Forks of one seeded RNG: every loop gets a different but reproducible stream.
    Seeded(Arc<Mutex<fastrand::Rng>>),
    /// A user-supplied factory, called once per loop.
    Factory(Arc<dyn Fn() -> Box<dyn JitterRng> + Send + Sync>),
}

/// How [`with_retry`](crate::resilience::with_retry) retries: backoff schedule, bounds and metric
/// label.
///
/// Defaults (from [`RetryPolicy::new`]): base 100 ms, cap 10 s, [`Jitter::Decorrelated`],
/// at most 5 attempts, no limit on total time. The delay schedule is [`Backoff`]'s; read its
/// documentation for the formulas.
///
/// Bounds:
///
/// * `max_attempts` counts calls of the operation, the first one included; `1` means no retry.
/// * `max_elapsed` bounds the total time since the first attempt started: the loop gives up
///   *before* sleeping when the sleep would end past it, rather than sleeping only to give up.
///   It does not time out an attempt in flight; wrap the operation in [`tokio::time::timeout`]
///   for that.
///
/// A policy is cheap to clone and can be shared by many concurrent loops; each loop draws from
/// its own RNG, so loops that failed together do not retry together.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new("optical")
///     .base(Duration::from_millis(200))
///     .cap(Duration::from_secs(30))
///     .jitter(Jitter::Full)
///     .max_attempts(10)
///     .max_elapsed(Duration::from_secs(120));
/// assert_eq!(policy.operator(), "optical");
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    operator: Cow<'static, str>,
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    rng: RngSource,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("operator", &self.operator)
            .field("base", &self.base)
            .field("cap", &self.cap)
            .field("jitter", &self.jitter)
            .field("max_attempts", &self.max_attempts)
            .field("max_elapsed", &self.max_elapsed)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// Creates a policy with the defaults above; `operator` is the value of the `operator` label
    /// of `retry_attempts_total` (a name, never error text).
    pub fn new(operator: impl Into<Cow<'static, str>>) -> Self {
        Self {
            operator: operator.into(),
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            jitter: Jitter::Decorrelated,
            max_attempts: 5,
            max_elapsed: None,
            rng: RngSource::Entropy,
        }
    }

    /// Sets the base delay (the floor of decorrelated jitter).
    #[must_use]
    pub fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// Sets the cap: no computed delay exceeds it (a retry-after hint may).
    #[must_use]
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// Sets the jitter strategy.
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the maximum number of attempts, the first included; `0` is treated as `1`.
    #[must_use]
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Bounds the total time from the first attempt; the loop gives up rather than sleep past it.
    #[must_use]
    pub fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// Makes every loop's jitter reproducible: each loop gets a fork of one RNG seeded with
    /// `seed`, so concurrent loops still draw different delays.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::resilience::RetryPolicy;
    ///
    /// let a = RetryPolicy::new("op").with_seed(1);
    /// let b = RetryPolicy::new("op").with_seed(1);
    /// let (mut x, mut y) = (a.backoff(), b.backoff());
    /// assert_eq!(x.next_delay(), y.next_delay());
    /// ```
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = RngSource::Seeded(Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))));
        self
    }

    /// Supplies the RNG of each loop from `factory` (called once per loop), for tests that need
    /// exact draws, such as `SequenceRng` (feature `test-util`).
    #[must_use]
    pub fn with_rng_factory<R, F>(mut self, factory: F) -> Self
    where
        R: JitterRng,
        F: Fn() -> R + Send + Sync + 'static,
    {
        self.rng = RngSource::Factory(Arc::new(move || Box::new(factory()) as Box<dyn JitterRng>));
        self
    }

    /// The `operator` label value.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    pub(crate) fn attempt_limit(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn elapsed_limit(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// A fresh delay schedule with this policy's base, cap, jitter and RNG source; what
    /// [`with_retry`](crate::resilience::with_retry) uses, exposed for callers that drive their own
    /// loop.
    pub fn backoff(&self) -> Backoff {
        let backoff = Backoff::new(self.base, self.cap, self.jitter);
        match &self.rng {
            RngSource::Entropy => backoff,
            RngSource::Seeded(parent) => {
                // A poisoned lock only means another loop panicked mid-fork; the RNG state is
                // still a valid RNG state, so keep going.
                let child = parent.lock().unwrap_or_else(PoisonError::into_inner).fork();
                backoff.with_rng(child)
            }
            RngSource::Factory(factory) => backoff.with_rng(BoxedRng(factory())),
        }
    }
}

/// Adapts a boxed RNG to `impl JitterRng` so that `Backoff::with_rng` keeps its simple signature.
struct BoxedRng(Box<dyn JitterRng>);

impl JitterRng for BoxedRng {
    fn next_unit(&mut self) -> f64 {
        self.0.next_unit()
    }
}
