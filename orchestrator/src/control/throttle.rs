//! A source's rate limit: a GCRA limiter (`governor`) on tokio's clock, so that a throttled
//! source under paused time (tests) waits in virtual time like everything else.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ControlError;

/// The highest rate a throttle takes: one item per nanosecond, the limiter's resolution.
pub const MAX_PER_SECOND: u32 = 1_000_000_000;

/// The largest burst a throttle takes: 10⁹ items (a second at the highest rate).
pub const MAX_BURST: u32 = 1_000_000_000;

/// A source's rate limit: at most `per_second` items per second on average, and at most
/// `burst` items at once after a pause in sending. Set with
/// [`GraphControls::throttle`](super::GraphControls::throttle); shown in each source's
/// [`OperatorSnapshot::throttle`](crate::monitor::OperatorSnapshot::throttle).
///
/// # Examples
///
/// ```
/// use sda_orchestrator::control::{ControlError, ThrottleLimit};
///
/// let limit = ThrottleLimit::new(500, 1000)?;
/// assert_eq!((limit.per_second, limit.burst), (500, 1000));
/// assert!(matches!(ThrottleLimit::new(0, 10), Err(ControlError::InvalidThrottle { .. })));
/// # Ok::<(), ControlError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "http",
    schema(
        description = "A source's rate limit: at most `per_second` items per second on \
                          average, and at most `burst` items at once after it has sent below \
                          the rate."
    )
)]
pub struct ThrottleLimit {
    /// The sustained rate, items per second: 1 to 1,000,000,000.
    #[cfg_attr(feature = "http", schema(minimum = 1, maximum = 1_000_000_000))]
    pub per_second: u32,
    /// How many items may go at once after the source has sent below the rate: 1 to
    /// 1,000,000,000. A batch larger than this waits for its permits one burst at a time.
    #[cfg_attr(feature = "http", schema(minimum = 1, maximum = 1_000_000_000))]
    pub burst: u32,
}

impl ThrottleLimit {
    /// A limit of `per_second` items per second with bursts of up to `burst` items.
    ///
    /// # Errors
    ///
    /// [`ControlError::InvalidThrottle`] unless `per_second` is 1 to [`MAX_PER_SECOND`] and
    /// `burst` 1 to [`MAX_BURST`].
    pub fn new(per_second: u32, burst: u32) -> Result<Self, ControlError> {
        if per_second == 0 || per_second > MAX_PER_SECOND || burst == 0 || burst > MAX_BURST {
            return Err(ControlError::InvalidThrottle { per_second, burst });
        }
        Ok(ThrottleLimit { per_second, burst })
    }
}

impl std::fmt::Display for ThrottleLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s, burst {}", self.per_second, self.burst)
    }
}

/// Nanoseconds since the limiter was made, on tokio's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// One throttle in force: its limit and the GCRA state. A new limit gets a new limiter, with
/// its whole burst available.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) limit: ThrottleLimit,
    gcra: Gcra,
    clock: TokioClock,
}

impl Limiter {
    pub(crate) fn new(limit: ThrottleLimit) -> Self {
        // `ThrottleLimit::new` keeps both above zero; 1 is the safe reading otherwise.
        let rate = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Limiter {
            limit,
            gcra: RateLimiter::direct_with_clock(Quota::per_second(rate).allow_burst(burst), clock),
            clock,
        }
    }

    /// The largest number of permits taken at once: the burst.
    pub(crate) fn chunk(&self) -> usize {
        usize::try_from(self.limit.burst).unwrap_or(usize::MAX)
    }

    /// Takes `n` permits (at most [`chunk`](Self::chunk)) if they are available now;
    /// otherwise says how long to wait before they may be.
    pub(crate) fn try_take(&self, n: usize) -> Result<(), Duration> {
        let n = u32::try_from(n.clamp(1, self.chunk())).unwrap_or(u32::MAX);
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        match self.gcra.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until
                .wait_time_from(self.clock.now())
                .max(Duration::from_nanos(1))),
            // Cannot happen with `n` at most the burst; waiting a whole burst is the safe answer.
            Err(_) => Err(Duration::from_secs_f64(
                f64::from(self.limit.burst) / f64::from(self.limit.per_second),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_burst_goes_at_once_and_the_rest_at_the_rate() {
        let limiter = Limiter::new(ThrottleLimit::new(10, 5).unwrap());
        for _ in 0..5 {
            assert_eq!(limiter.try_take(1), Ok(()));
        }
        let wait = limiter.try_take(1).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        tokio::time::advance(wait).await;
        assert_eq!(limiter.try_take(1), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_larger_than_the_burst_takes_one_burst() {
        let limiter = Limiter::new(ThrottleLimit::new(100, 4).unwrap());
        assert_eq!(limiter.chunk(), 4);
        assert_eq!(limiter.try_take(50), Ok(()));
        // The four taken leave nothing: the next permit is 10 ms away.
        assert_eq!(limiter.try_take(1), Err(Duration::from_millis(10)));
    }

    #[test]
    fn limits_are_checked() {
        assert!(ThrottleLimit::new(1, 1).is_ok());
        assert!(ThrottleLimit::new(MAX_PER_SECOND, MAX_BURST).is_ok());
        assert!(ThrottleLimit::new(MAX_PER_SECOND, MAX_BURST + 1).is_err());
        assert!(ThrottleLimit::new(MAX_PER_SECOND + 1, 1).is_err());
        assert!(ThrottleLimit::new(5, 0).is_err());
        assert_eq!(
            ThrottleLimit::new(5, 7).unwrap().to_string(),
            "5/s, burst 7"
        );
    }
}
