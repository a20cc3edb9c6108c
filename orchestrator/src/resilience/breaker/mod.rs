//! `CircuitBreaker`: stop calling a dependency that keeps failing, then probe it carefully.
//!
//! This file holds the breaker and its state machine; its configuration, states, errors and
//! permits have a file each.

mod config;
mod error;
mod permit;
mod state;

pub use config::BreakerConfig;
pub use error::{BreakerError, BreakerOpen};
pub use permit::BreakerPermit;
pub use state::BreakerState;

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::retry::{OpFailure, RetryDisposition};
use crate::monitor::metric_names;

/// A circuit breaker, cheap to clone and shared across tasks (clones share one state).
///
/// # States
///
/// * **Closed** (gauge 0): calls pass. A failure is remembered for `window`; when
///   `failure_threshold` failures lie inside the sliding window, the breaker opens. Successes do
///   not erase failures: only age does.
/// * **Open** (gauge 1): calls are rejected at once with [`BreakerOpen`], whose
///   [`retry_after`](BreakerOpen::retry_after) is the remaining cooldown.
/// * **HalfOpen** (gauge 2): once `cooldown` has passed, the next calls are admitted as probes,
///   at most `half_open_probes` at a time; others are rejected (with a zero retry-after, since a
///   verdict is imminent). The first probe success closes the breaker and forgets all failures;
///   a probe failure re-opens it for another `cooldown`.
///
/// A [`RetryDisposition::Discard`] outcome (or a permit dropped without an outcome, for example
/// because the call was cancelled) counts as neither success nor failure; a discarded probe frees
/// its probe slot. Outcomes of calls admitted before the latest state change are ignored, so a
/// slow call started while Closed cannot close or re-open the breaker later.
///
/// Transitions happen when the breaker is used (no background timer), so the gauge
/// `circuit_breaker_state{breaker}` moves from 1 to 2 on the first call after the cooldown.
/// The gauge handle is registered when the breaker is created: install the metrics recorder
/// first.
///
/// # Composing with `with_retry`
///
/// Use [`call_classified`](Self::call_classified) inside
/// [`with_retry`](crate::resilience::with_retry): an open breaker becomes a fast *transient*
/// failure whose retry-after hint is the remaining cooldown, so the retry loop sleeps at least
/// until the breaker may admit a probe, and the rejection never reaches the dependency. The
/// operation's own dispositions pass through.
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::{
///     BreakerConfig, CircuitBreaker, OpFailure, RetryPolicy, with_retry,
/// };
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::new("optical", BreakerConfig {
///     failure_threshold: 2,
///     window: Duration::from_secs(10),
///     cooldown: Duration::from_secs(5),
///     half_open_probes: 1,
/// });
/// let policy = RetryPolicy::new("optical").max_attempts(4).cap(Duration::from_millis(500));
/// let start = tokio::time::Instant::now();
///
/// // The dependency fails twice (which opens the breaker), then recovers.
/// let outcome = with_retry(&policy, |attempt| {
///     breaker.call_classified(move || async move {
///         if attempt <= 2 { Err(OpFailure::retry("503")) } else { Ok("data") }
///     })
/// })
/// .await;
///
/// assert_eq!(outcome.map(|o| o.into_value()), Ok(Some("data")));
/// // The third attempt waited out the 5 s cooldown instead of hammering an open breaker.
/// assert!(start.elapsed() >= Duration::from_secs(5));
/// # }
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::new("db", BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() });
/// let failed: Result<(), _> = breaker.call(|| async { Err::<(), _>("down") }).await;
/// assert!(failed.is_err());
/// assert_eq!(breaker.state(), BreakerState::Open);
///
/// let rejected = breaker.call(|| async { Ok::<_, &str>(()) }).await;
/// assert!(rejected.is_err_and(|e| e.is_open()));
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

struct Shared {
    name: Arc<str>,
    config: BreakerConfig,
    gauge: metrics::Gauge,
    inner: Mutex<Inner>,
}

struct Inner {
    phase: Phase,
    /// Bumped on every transition, so that late outcomes from an earlier phase are ignored.
    epoch: u64,
    /// Times of the failures inside the window, oldest first; at most `failure_threshold` long.
    failures: VecDeque<Instant>,
}

#[derive(Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { admitted: u32 },
}

impl Phase {
    fn state(self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .field("state", &self.state())
            .finish()
    }
}

/// Whether an admitted call ended in success, failure, or neither.
#[derive(Clone, Copy)]
enum Verdict {
    Success,
    Failure,
    Neither,
}

impl CircuitBreaker {
    /// Creates a Closed breaker; `name` is the `breaker` label of `circuit_breaker_state`.
    ///
    /// A `failure_threshold` or `half_open_probes` of 0 is treated as 1.
    pub fn new(name: impl Into<Arc<str>>, config: BreakerConfig) -> Self {
        let name = name.into();
        let config = BreakerConfig {
            failure_threshold: config.failure_threshold.max(1),
            half_open_probes: config.half_open_probes.max(1),
            ..config
        };
        let gauge =
            metrics::gauge!(metric_names::CIRCUIT_BREAKER_STATE, "breaker" => name.to_string());
        gauge.set(BreakerState::Closed.gauge_value());
        let capacity = usize::try_from(config.failure_threshold)
            .unwrap_or(usize::MAX)
            .min(1024);
        Self {
            shared: Arc::new(Shared {
                name,
                config,
                gauge,
                inner: Mutex::new(Inner {
                    phase: Phase::Closed,
                    epoch: 0,
                    failures: VecDeque::with_capacity(capacity),
                }),
            }),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The breaker's configuration (after the zero-to-one adjustments).
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// The current state; an Open breaker whose cooldown has passed reports (and becomes)
    /// HalfOpen.
    pub fn state(&self) -> BreakerState {
        let mut inner = self.shared.lock();
        self.shared.expire_cooldown(&mut inner, Instant::now());
        inner.phase.state()
    }

    /// Asks to make one call: a [`BreakerPermit`] to report the outcome with, or a rejection.
    ///
    /// This is the lower-level API; [`call`](Self::call) and
    /// [`call_classified`](Self::call_classified) wrap it.
    ///
    /// # Errors
    ///
    /// [`BreakerOpen`] while the breaker is Open, or HalfOpen with every probe slot taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::resilience::{BreakerConfig, CircuitBreaker};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::new("api", BreakerConfig::default());
    /// match breaker.try_acquire() {
    ///     Ok(permit) => {
    ///         let ok = true; // ... make the call ...
    ///         if ok { permit.success() } else { permit.failure() }
    ///     }
    ///     Err(open) => println!("skipped; retry in {:?}", open.retry_after()),
    /// }
    /// # }
    /// ```
    pub fn try_acquire(&self) -> Result<BreakerPermit, BreakerOpen> {
        let now = Instant::now();
        let mut inner = self.shared.lock();
        self.shared.expire_cooldown(&mut inner, now);
        let probe = match inner.phase {
            Phase::Closed => false,
            Phase::Open { until } => {
                return Err(BreakerOpen::new(
                    Arc::clone(&self.shared.name),
                    until.saturating_duration_since(now),
                ));
            }
            Phase::HalfOpen { admitted } if admitted >= self.shared.config.half_open_probes => {
                return Err(BreakerOpen::new(
                    Arc::clone(&self.shared.name),
                    Duration::ZERO,
                ));
            }
            Phase::HalfOpen { admitted } => {
                inner.phase = Phase::HalfOpen {
                    admitted: admitted.saturating_add(1),
                };
                true
            }
        };
        Ok(BreakerPermit::new(
            Arc::clone(&self.shared),
            inner.epoch,
            probe,
        ))
    }

    /// Runs `op` if the breaker admits it; `Ok` counts as success and `Err` as failure.
    ///
    /// # Errors
    ///
    /// [`BreakerError::Open`] if rejected (`op` is not called), [`BreakerError::Inner`] with the
    /// operation's error otherwise.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future mid-call counts as neither success nor failure and frees a probe slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::resilience::{BreakerConfig, BreakerError, CircuitBreaker};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::new("ledger", BreakerConfig::default());
    /// let balance = breaker.call(|| async { Ok::<u64, String>(42) }).await;
    /// assert_eq!(balance, Ok(42));
    /// let failed = breaker.call(|| async { Err::<u64, _>("timeout".to_owned()) }).await;
    /// assert_eq!(failed, Err(BreakerError::Inner("timeout".to_owned())));
    /// # }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, op: F) -> Result<T, BreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(BreakerError::Open)?;
        match op().await {
            Ok(value) => {
                permit.success();
                Ok(value)
            }
            Err(error) => {
                permit.failure();
                Err(BreakerError::Inner(error))
            }
        }
    }

    /// Runs an operation that classifies its own failures, in the shape
    /// [`with_retry`](crate::resilience::with_retry) expects.
    ///
    /// `Retry` and `Permanent` failures count as breaker failures, `Discard` as neither. A
    /// rejection becomes `OpFailure::retry(BreakerError::Open(..))` with the remaining cooldown
    /// as its retry-after hint. See the type-level docs for an example.
    ///
    /// # Errors
    ///
    /// The operation's failure (error wrapped in [`BreakerError::Inner`], disposition and hint
    /// kept), or the rejection described above.
    ///
    /// # Cancel safety
    ///
    /// As for [`call`](Self::call).
    pub async fn call_classified<T, E, F, Fut>(
        &self,
        op: F,
    ) -> Result<T, OpFailure<BreakerError<E>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OpFailure<E>>>,
    {
        let permit = match self.try_acquire() {
            Ok(permit) => permit,
            Err(open) => {
                let after = open.retry_after();
                return Err(OpFailure::retry(BreakerError::Open(open)).with_retry_after(after));
            }
        };
        match op().await {
            Ok(value) => {
                permit.success();
                Ok(value)
            }
            Err(failure) => {
                match failure.disposition {
                    RetryDisposition::Retry | RetryDisposition::Permanent => permit.failure(),
                    RetryDisposition::Discard => permit.discard(),
                }
                Err(failure.map_err(BreakerError::Inner))
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is a few plain fields updated atomically under the lock, so a panic elsewhere
        // cannot leave it half-written: recovering from poisoning is safe.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expire_cooldown(&self, inner: &mut Inner, now: Instant) {
        if let Phase::Open { until } = inner.phase
            && now >= until
        {
            self.transition(inner, Phase::HalfOpen { admitted: 0 });
        }
    }

    fn transition(&self, inner: &mut Inner, to: Phase) {
        let from = inner.phase.state();
        inner.phase = to;
        inner.epoch = inner.epoch.wrapping_add(1);
        let state = to.state();
        self.gauge.set(state.gauge_value());
        tracing::info!(
            event = "circuit_breaker_transition",
            breaker = &*self.name,
            from = from.as_str(),
            to = state.as_str(),
            "circuit breaker changed state"
        );
    }

    fn record(&self, epoch: u64, probe: bool, verdict: Verdict) {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.epoch != epoch {
            // The call was admitted before the last transition; its outcome says nothing about
            // the current phase.
            return;
        }
        match (inner.phase, verdict) {
            (Phase::Closed, Verdict::Failure) => {
                let window = self.config.window;
                while inner
                    .failures
                    .front()
                    .is_some_and(|&at| now.saturating_duration_since(at) >= window)
                {
                    inner.failures.pop_front();
                }
                inner.failures.push_back(now);
                let threshold =
                    usize::try_from(self.config.failure_threshold).unwrap_or(usize::MAX);
                if inner.failures.len() >= threshold {
                    inner.failures.clear();
                    let until = now + self.config.cooldown;
                    self.transition(&mut inner, Phase::Open { until });
                }
            }
            (Phase::HalfOpen { .. }, Verdict::Success) if probe => {
                inner.failures.clear();
                self.transition(&mut inner, Phase::Closed);
            }
            (Phase::HalfOpen { .. }, Verdict::Failure) if probe => {
                let until = now + self.config.cooldown;
                self.transition(&mut inner, Phase::Open { until });
            }
            (Phase::HalfOpen { admitted }, Verdict::Neither) if probe => {
                inner.phase = Phase::HalfOpen {
                    admitted: admitted.saturating_sub(1),
                };
            }
            _ => {}
        }
    }
}
