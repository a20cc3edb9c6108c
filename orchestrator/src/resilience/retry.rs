//! `with_retry`: run an operation that classifies its own failures, backing off between tries.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::policy::RetryPolicy;

/// What the retry loop should do with a failed attempt; the operation decides.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::RetryDisposition;
///
/// fn classify(http_status: u16) -> RetryDisposition {
///     match http_status {
///         429 | 500..=599 => RetryDisposition::Retry,
///         422 => RetryDisposition::Discard, // a malformed item: drop it, count it, move on
///         _ => RetryDisposition::Permanent,
///     }
/// }
/// assert_eq!(classify(503), RetryDisposition::Retry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryDisposition {
    /// Transient: back off and try again, within the policy's bounds.
    Retry,
    /// Propagate at once as [`RetryError::Permanent`], without sleeping.
    Permanent,
    /// Drop the item cleanly: [`RetryOutcome::Discarded`], counted, not an error.
    Discard,
}

/// A failed attempt: the error, its disposition and an optional retry-after hint.
///
/// The hint (for example an HTTP `Retry-After` header, or an open circuit breaker's remaining
/// cooldown) *raises* the next delay: the loop sleeps `max(hint, scheduled delay)`. A hint is not
/// capped by the policy's `cap`, because sleeping less than the server asked for is pointless;
/// `max_elapsed` still applies. It is ignored unless the disposition is `Retry`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::{OpFailure, RetryDisposition};
///
/// let failure = OpFailure::retry("503").with_retry_after(Duration::from_secs(2));
/// assert_eq!(failure.disposition, RetryDisposition::Retry);
/// assert_eq!(failure.retry_after, Some(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailure<E> {
    /// The operation's error.
    pub error: E,
    /// What to do about it.
    pub disposition: RetryDisposition,
    /// The least delay before the next attempt, if the operation knows one.
    pub retry_after: Option<Duration>,
}

impl<E> OpFailure<E> {
    /// A failure with the given disposition and no hint.
    pub fn new(error: E, disposition: RetryDisposition) -> Self {
        Self {
            error,
            disposition,
            retry_after: None,
        }
    }

    /// A transient failure ([`RetryDisposition::Retry`]).
    pub fn retry(error: E) -> Self {
        Self::new(error, RetryDisposition::Retry)
    }

    /// A permanent failure ([`RetryDisposition::Permanent`]).
    pub fn permanent(error: E) -> Self {
        Self::new(error, RetryDisposition::Permanent)
    }

    /// A discarded item ([`RetryDisposition::Discard`]).
    pub fn discard(error: E) -> Self {
        Self::new(error, RetryDisposition::Discard)
    }

    /// Adds a retry-after hint, which raises the next delay to at least `after`.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Maps the error, keeping disposition and hint.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> OpFailure<F> {
        OpFailure {
            error: f(self.error),
            disposition: self.disposition,
            retry_after: self.retry_after,
        }
    }
}

/// The non-error results of [`with_retry`]: a value, or an item discarded on purpose.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::RetryOutcome;
///
/// let outcome: RetryOutcome<u32, &str> = RetryOutcome::Succeeded(7);
/// assert_eq!(outcome.into_value(), Some(7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum RetryOutcome<T, E> {
    /// The operation succeeded.
    Succeeded(T),
    /// The operation asked for the item to be discarded; `retry_discarded_total` was counted.
    Discarded {
        /// The error the operation discarded the item with, for logging.
        reason: E,
        /// Attempts made, the discarding one included.
        attempts: u32,
    },
}

impl<T, E> RetryOutcome<T, E> {
    /// The value, or `None` if the item was discarded.
    pub fn into_value(self) -> Option<T> {
        match self {
            Self::Succeeded(value) => Some(value),
            Self::Discarded { .. } => None,
        }
    }

    /// Whether the item was discarded.
    pub fn is_discarded(&self) -> bool {
        matches!(self, Self::Discarded { .. })
    }
}

/// Which bound ended a retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryBound {
    /// `max_attempts` calls were made.
    MaxAttempts,
    /// The next sleep would have ended past `max_elapsed`.
    MaxElapsed,
}

impl fmt::Display for RetryBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MaxAttempts => "max attempts",
            Self::MaxElapsed => "max elapsed time",
        })
    }
}

/// Why [`with_retry`] failed: a permanent error, or the bounds ran out. Both carry the last error
/// and the number of attempts.
///
/// The message includes the last error's `Display` (so `E` need not implement
/// [`std::error::Error`], and `anyhow::Error` works); it is therefore not also exposed as
/// `source()`.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{RetryBound, RetryError};
///
/// let err = RetryError::Exhausted { last_error: "timeout", attempts: 5, bound: RetryBound::MaxAttempts };
/// assert_eq!(err.to_string(), "retries exhausted (max attempts) after 5 attempts: timeout");
/// assert_eq!(err.attempts(), 5);
/// assert!(!err.is_permanent());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError<E> {
    /// The operation classified an error as [`RetryDisposition::Permanent`].
    #[error("permanent failure on attempt {attempts}: {last_error}")]
    Permanent {
        /// The permanent error.
        last_error: E,
        /// Attempts made, the failing one included.
        attempts: u32,
    },
    /// Every attempt was transient and a bound ran out.
    #[error("retries exhausted ({bound}) after {attempts} attempts: {last_error}")]
    Exhausted {
        /// The error of the last attempt.
        last_error: E,
        /// Attempts made.
        attempts: u32,
        /// The bound that ended the loop.
        bound: RetryBound,
    },
}

impl<E> RetryError<E> {
    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Permanent { attempts, .. } | Self::Exhausted { attempts, .. } => *attempts,
        }
    }

    /// The last error.
    pub fn last_error(&self) -> &E {
        match self {
            Self::Permanent { last_error, .. } | Self::Exhausted { last_error, .. } => last_error,
        }
    }

    /// Consumes the error, returning the last error.
    pub fn into_last_error(self) -> E {
        match self {
            Self::Permanent { last_error, .. } | Self::Exhausted { last_error, .. } => last_error,
        }
    }

    /// Whether the loop ended on a permanent error.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. })
    }

    /// The bound that ran out, if that is why the loop ended.
    pub fn bound(&self) -> Option<RetryBound> {
        match self {
            Self::Exhausted { bound, .. } => Some(*bound),
            Self::Permanent { .. } => None,
        }
    }
}

/// Runs `op` until it succeeds, discards, fails permanently or the policy's bounds run out,
/// sleeping the policy's backoff schedule between attempts.
///
/// `op` receives the attempt number (1 for the first call) and classifies its own failures
/// with [`OpFailure`]:
///
/// * [`RetryDisposition::Retry`]: counts `retry_attempts_total{operator}`, sleeps
///   `max(next scheduled delay, retry-after hint)` and calls `op` again, unless `max_attempts`
///   calls were made or the sleep would end past `max_elapsed`.
/// * [`RetryDisposition::Permanent`]: returns [`RetryError::Permanent`] at once, no sleep.
/// * [`RetryDisposition::Discard`]: counts `retry_discarded_total{operator}` and returns
///   `Ok(`[`RetryOutcome::Discarded`]`)`, no sleep.
///
/// The schedule is [`Backoff`](crate::Backoff)'s, fresh for each call: with the default
/// decorrelated jitter the `n`-th retry sleeps `uniform(base, min(cap, 3 * previous))`, with
/// `previous = base` before the first retry. Sleeping uses [`tokio::time`], so paused-time tests
/// see exact delays.
///
/// # Errors
///
/// [`RetryError::Permanent`] for a permanent failure; [`RetryError::Exhausted`] when a bound ran
/// out. Both carry the last error and the number of attempts.
///
/// # Cancel safety
///
/// Dropping the returned future drops the attempt or the sleep in progress and nothing else: no
/// state outlives it. Whether an attempt dropped mid-way had an effect is up to `op`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime with the time driver enabled (it sleeps).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::{OpFailure, RetryOutcome, RetryPolicy, with_retry};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::new("fetch").max_attempts(5).with_seed(7);
/// let start = tokio::time::Instant::now();
///
/// // Fails twice with a transient error, then succeeds.
/// let outcome = with_retry(&policy, |attempt| async move {
///     if attempt < 3 { Err(OpFailure::retry("connection reset")) } else { Ok(attempt) }
/// })
/// .await?;
///
/// assert_eq!(outcome, RetryOutcome::Succeeded(3));
/// // Two sleeps, each in [100 ms, 900 ms] with the default base of 100 ms.
/// assert!(start.elapsed() >= Duration::from_millis(200));
/// # Ok(())
/// # }
/// ```
pub async fn with_retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut op: F,
) -> Result<RetryOutcome<T, E>, RetryError<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, OpFailure<E>>>,
{
    let started = Instant::now();
    let mut backoff = policy.backoff();
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let failure = match op(attempt).await {
            Ok(value) => return Ok(RetryOutcome::Succeeded(value)),
            Err(failure) => failure,
        };
        match failure.disposition {
            RetryDisposition::Permanent => {
                return Err(RetryError::Permanent {
                    last_error: failure.error,
                    attempts: attempt,
                });
            }
            RetryDisposition::Discard => {
                metrics::counter!(crate::metric_names::RETRY_DISCARDED_TOTAL, "operator" => policy.operator().to_owned())
                    .increment(1);
                return Ok(RetryOutcome::Discarded {
                    reason: failure.error,
                    attempts: attempt,
                });
            }
            RetryDisposition::Retry => {}
        }
        if attempt >= policy.attempt_limit() {
            return Err(RetryError::Exhausted {
                last_error: failure.error,
                attempts: attempt,
                bound: RetryBound::MaxAttempts,
            });
        }
        let scheduled = backoff.next_delay();
        let delay = failure
            .retry_after
            .map_or(scheduled, |hint| hint.max(scheduled));
        if let Some(limit) = policy.elapsed_limit() {
            // Give up now rather than sleep only to find the deadline passed.
            if started.elapsed().saturating_add(delay) > limit {
                return Err(RetryError::Exhausted {
                    last_error: failure.error,
                    attempts: attempt,
                    bound: RetryBound::MaxElapsed,
                });
            }
        }
        metrics::counter!(crate::metric_names::RETRY_ATTEMPTS_TOTAL, "operator" => policy.operator().to_owned())
            .increment(1);
        tracing::debug!(
            event = "retry",
            operator = policy.operator(),
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "transient failure; backing off"
        );
        tokio::time::sleep(delay).await;
    }
}
