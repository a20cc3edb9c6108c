//! How a retry loop ended: a value, a discarded item, or an error with the bound that ran out.

use std::fmt;

/// The non-error results of [`with_retry`](super::with_retry): a value, or an item discarded on
/// purpose.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::RetryOutcome;
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

/// Why [`with_retry`](super::with_retry) failed: a permanent error, or the bounds ran out. Both
/// carry the last error and the number of attempts.
///
/// The message includes the last error's `Display` (so `E` need not implement
/// [`std::error::Error`], and `anyhow::Error` works); it is therefore not also exposed as
/// `source()`.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::{RetryBound, RetryError};
///
/// let err = RetryError::Exhausted { last_error: "timeout", attempts: 5, bound: RetryBound::MaxAttempts };
/// assert_eq!(err.to_string(), "retries exhausted (max attempts) after 5 attempts: timeout");
/// assert_eq!(err.attempts(), 5);
/// assert!(!err.is_permanent());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError<E> {
    /// The operation classified an error as
    /// [`RetryDisposition::Permanent`](super::RetryDisposition::Permanent).
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
