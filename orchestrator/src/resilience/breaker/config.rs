//! How sensitive a circuit breaker is and how long it stays open.

use std::time::Duration;

/// Configuration of a [`CircuitBreaker`](crate::resilience::CircuitBreaker).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::BreakerConfig;
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
