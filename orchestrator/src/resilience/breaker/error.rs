//! Why a call through a circuit breaker did not succeed.

use std::sync::Arc;
use std::time::Duration;

/// A call rejected by an open (or saturated half-open) circuit breaker.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::{BreakerConfig, CircuitBreaker};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::new("api", BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() });
/// breaker.try_acquire().map(|permit| permit.failure()).ok();
/// let open = breaker.try_acquire().unwrap_err();
/// assert_eq!(open.breaker(), "api");
/// assert_eq!(open.retry_after(), BreakerConfig::default().cooldown);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker `{breaker}` is open; retry in {retry_after:?}")]
pub struct BreakerOpen {
    breaker: Arc<str>,
    retry_after: Duration,
}

impl BreakerOpen {
    pub(crate) fn new(breaker: Arc<str>, retry_after: Duration) -> Self {
        Self {
            breaker,
            retry_after,
        }
    }

    /// The breaker's name.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The remaining cooldown (zero when HalfOpen with every probe slot taken): the least delay
    /// worth waiting before trying again.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

/// The error of a call through a circuit breaker: rejected, or the operation's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakerError<E> {
    /// The breaker rejected the call; the operation did not run.
    #[error(transparent)]
    Open(BreakerOpen),
    /// The operation ran and failed.
    #[error("{0}")]
    Inner(E),
}

impl<E> BreakerError<E> {
    /// Whether the breaker rejected the call.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open(_))
    }

    /// The operation's error, if it ran.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Inner(error) => Some(error),
            Self::Open(_) => None,
        }
    }
}
