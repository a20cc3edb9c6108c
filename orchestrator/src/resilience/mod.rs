//! Retry with decorrelated jitter, circuit breaking and a dedicated-runtime bulkhead.
//!
//! * [`Backoff`]: the delay schedule (decorrelated jitter with the ceiling clamped before
//!   drawing, full jitter, or plain exponential), with an injectable RNG.
//! * [`RetryPolicy`] and [`with_retry`]: a retry loop whose operation classifies its own failures
//!   as [`RetryDisposition::Retry`], [`Permanent`](RetryDisposition::Permanent) or
//!   [`Discard`](RetryDisposition::Discard).
//! * [`CircuitBreaker`]: Closed, Open and HalfOpen with a limited number of probes; composes with
//!   [`with_retry`] through [`CircuitBreaker::call_classified`].
//! * [`DedicatedPool`]: a bulkhead running CPU-bound work on its own tokio runtime.

mod backoff;
mod breaker;
mod breaker_types;
mod policy;
mod pool;
mod pool_config;
mod pool_gauges;
mod retry;

pub use backoff::{Backoff, Jitter, JitterRng, SequenceRng, decorrelated_unclamped};
pub use breaker::{BreakerPermit, CircuitBreaker};
pub use breaker_types::{BreakerConfig, BreakerError, BreakerOpen, BreakerState};
pub use policy::RetryPolicy;
pub use pool::DedicatedPool;
pub use pool_config::{PoolConfig, PoolError};
pub use retry::{OpFailure, RetryBound, RetryDisposition, RetryError, RetryOutcome, with_retry};
