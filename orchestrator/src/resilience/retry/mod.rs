//! `with_retry`: run an operation that classifies its own failures, backing off between tries.
//!
//! This file holds the loop; the policy, the failure classification and the outcomes have a
//! file each.

mod failure;
mod outcome;
mod policy;

use std::future::Future;

use tokio::time::Instant;

use crate::monitor::metric_names;

pub use failure::{OpFailure, RetryDisposition};
pub use outcome::{RetryBound, RetryError, RetryOutcome};
pub use policy::RetryPolicy;

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
/// The schedule is [`Backoff`](crate::resilience::Backoff)'s, fresh for each call: with the default
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
/// use sda_orchestrator::resilience::{OpFailure, RetryOutcome, RetryPolicy, with_retry};
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
                metrics::counter!(metric_names::RETRY_DISCARDED_TOTAL, "operator" => policy.operator().to_owned())
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
        metrics::counter!(metric_names::RETRY_ATTEMPTS_TOTAL, "operator" => policy.operator().to_owned())
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
