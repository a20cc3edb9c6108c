//! Retry with decorrelated jitter, circuit breaking and a dedicated-runtime bulkhead.
//!
//! * [`Backoff`]: the delay schedule (decorrelated jitter with the ceiling clamped before
//!   drawing, full jitter, or plain exponential), with an injectable RNG ([`JitterRng`]):
//!   `fastrand` by default, `rand`'s generators through `RandRng` (feature `rand`), scripted
//!   draws through `SequenceRng` (feature `test-util`).
//! * [`RetryPolicy`] and [`with_retry`]: a retry loop whose operation classifies its own failures
//!   as [`RetryDisposition::Retry`], [`Permanent`](RetryDisposition::Permanent) or
//!   [`Discard`](RetryDisposition::Discard).
//! * [`CircuitBreaker`]: Closed, Open and HalfOpen with a limited number of probes; composes with
//!   [`with_retry`] through [`CircuitBreaker::call_classified`].
//! * [`DedicatedPool`]: a bulkhead running CPU-bound work on its own tokio runtime.

mod backoff;
mod breaker;
mod pool;
mod retry;

#[cfg(feature = "rand")]
pub use backoff::RandRng;
pub use backoff::{Backoff, Jitter, JitterRng};
#[cfg(feature = "test-util")]
pub use backoff::{SequenceRng, decorrelated_unclamped};
pub use breaker::{
    BreakerConfig, BreakerError, BreakerOpen, BreakerPermit, BreakerState, CircuitBreaker,
};
pub use pool::{DedicatedPool, PoolConfig, PoolError};
pub use retry::{
    OpFailure, RetryBound, RetryDisposition, RetryError, RetryOutcome, RetryPolicy, with_retry,
};
