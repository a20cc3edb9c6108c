//! The small value types of the circuit breaker: configuration, state and errors.

use std::sync::Arc;
use std::time::Duration;

/// Configuration of a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::BreakerConfig;
///
/// let config = BreakerConfig { cooldown: Duration::from_secs(30), ..BreakerConfig::default() };
/// assert_eq!(config.failure_threshold, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures inside `window` that open the breaker (default 5).
    pub failure_threshold: u32,
    /// Length of the sliding failure window (default 30 s).
    pub window: Duration,
    /// How long an Open breaker rejects calls before probing (default 10 s).
    pub cooldown: Duration,
    /// Probe calls admitted at a time while HalfOpen (default 1).
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            window: Duration::from_secs(30),
            cooldown: Duration::from_secs(10),
            half_open_probes: 1,
        }
    }
}

/// The state of a circuit breaker, as exported by the gauge `circuit_breaker_state{breaker}`.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::BreakerState;
///
/// assert_eq!(BreakerState::HalfOpen.gauge_value(), 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls pass (gauge 0).
    Closed,
    /// Calls are rejected at once (gauge 1).
    Open,
    /// A limited number of probe calls pass (gauge 2).
    HalfOpen,
}

impl BreakerState {
    /// The gauge value: 0 Closed, 1 Open, 2 HalfOpen.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }

    /// A lowercase name for logs: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// A call rejected by an open (or saturated half-open) circuit breaker.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{BreakerConfig, CircuitBreaker};
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
