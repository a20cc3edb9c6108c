//! The three states of a circuit breaker, as logged and exported.

/// The state of a circuit breaker, as exported by the gauge `circuit_breaker_state{breaker}`.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::BreakerState;
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
