//! How an operation tells the retry loop what a failure means.

use std::time::Duration;

/// What the retry loop should do with a failed attempt; the operation decides.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::RetryDisposition;
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
    /// Propagate at once as [`RetryError::Permanent`](super::RetryError::Permanent), without
    /// sleeping.
    Permanent,
    /// Drop the item cleanly: [`RetryOutcome::Discarded`](super::RetryOutcome::Discarded), counted,
    /// not an error.
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
/// use sda_orchestrator::resilience::{OpFailure, RetryDisposition};
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
