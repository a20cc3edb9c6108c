//! The restart state of one supervised unit, shared by the graph's supervisor (for vertices) and
//! by routers (for their feeds), so that both restart on the same terms.

use std::time::Duration;

use tokio::time::Instant;

use super::{RestartBudget, RestartDecision};
use crate::resilience::Backoff;
use crate::{RestartPolicy, SupervisorPolicy};

/// What [`Restarter::on_error`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    /// Start the next incarnation after `delay`.
    After {
        /// The backoff before the next incarnation.
        delay: Duration,
        /// Which restart this is over the unit's lifetime, counting from 1.
        attempt: u32,
        /// Restarts inside the policy's window, this one included.
        restarts_in_window: u32,
    },
    /// The budget is spent: escalate.
    Exhausted {
        /// Restarts inside the policy's window when the budget ran out.
        restarts_in_window: u32,
    },
}

/// The restart budget, the backoff schedule and the incarnation count of one supervised unit.
///
/// The backoff follows the graph's [`SupervisorPolicy`]: its bounds, its jitter, and its
/// healthy-run rule. An incarnation that ran longer than the backoff cap before it failed was
/// healthy, so its failure is a fresh incident rather than one more turn of a crash loop, and
/// the schedule starts over from the base delay.
#[derive(Debug)]
pub(crate) struct Restarter {
    budget: RestartBudget,
    backoff: Backoff,
    /// How long an incarnation must run to count as healthy: the backoff cap.
    healthy_run: Duration,
    /// Incarnations started so far, the first included.
    incarnations: u32,
    /// When the current incarnation started (after its backoff).
    started: Instant,
}

impl Restarter {
    /// A unit restarted under `restart`, with the backoff of `policy`, not started yet.
    pub(crate) fn new(restart: RestartPolicy, policy: &SupervisorPolicy) -> Self {
        Restarter {
            budget: RestartBudget::new(restart),
            backoff: Backoff::new(
                policy.restart_backoff_base(),
                policy.restart_backoff_cap(),
                policy.restart_jitter(),
            ),
            healthy_run: policy.restart_backoff_cap(),
            incarnations: 0,
            started: Instant::now(),
        }
    }

    /// Records that the next incarnation starts `delay` from now, and returns how many times the
    /// unit was restarted before it (0 for the first start): the incarnation's `attempt()`.
    pub(crate) fn start(&mut self, delay: Duration) -> u32 {
        let attempt = self.incarnations;
        self.incarnations = self.incarnations.saturating_add(1);
        self.started = Instant::now() + delay;
        attempt
    }

    /// How many times the unit was restarted before its current incarnation.
    pub(crate) fn attempt(&self) -> u32 {
        self.incarnations.saturating_sub(1)
    }

    /// Records that the current incarnation failed at `now` and decides whether, and after
    /// which delay, the unit starts again.
    pub(crate) fn on_error(&mut self, now: Instant) -> Restart {
        if now.saturating_duration_since(self.started) > self.healthy_run {
            self.backoff.reset();
        }
        match self.budget.on_failure(now) {
            RestartDecision::Restart {
                attempt,
                restarts_in_window,
            } => Restart::After {
                delay: self.backoff.next_delay(),
                attempt,
                restarts_in_window,
            },
            RestartDecision::Exhausted { restarts_in_window } => {
                Restart::Exhausted { restarts_in_window }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::Jitter;

    fn plain(base: u64, cap: u64) -> SupervisorPolicy {
        SupervisorPolicy::default()
            .with_restart_backoff(Duration::from_secs(base), Duration::from_secs(cap))
            .with_restart_jitter(Jitter::None)
    }

    fn delay(restart: Restart) -> Duration {
        match restart {
            Restart::After { delay, .. } => delay,
            Restart::Exhausted { .. } => panic!("the budget was not expected to run out"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn counts_incarnations_from_zero() {
        let mut restarter = Restarter::new(RestartPolicy::Always, &plain(1, 8));
        assert_eq!(restarter.start(Duration::ZERO), 0);
        assert_eq!(restarter.attempt(), 0);
        assert_eq!(restarter.start(Duration::from_secs(1)), 1);
        assert_eq!(restarter.attempt(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crash_loop_backs_off_and_a_healthy_run_starts_over() {
        let mut restarter = Restarter::new(RestartPolicy::Always, &plain(1, 8));
        restarter.start(Duration::ZERO);
        let mut delays = Vec::new();
        for _ in 0..5 {
            let d = delay(restarter.on_error(Instant::now()));
            delays.push(d.as_secs());
            restarter.start(d);
            tokio::time::advance(d).await;
        }
        assert_eq!(delays, [1, 2, 4, 8, 8]);

        // Exactly the cap is not yet healthy; a moment longer is.
        tokio::time::advance(Duration::from_secs(8)).await;
        let d = delay(restarter.on_error(Instant::now()));
        assert_eq!(d, Duration::from_secs(8));
        restarter.start(d);
        tokio::time::advance(d + Duration::from_secs(8) + Duration::from_millis(1)).await;
        assert_eq!(
            delay(restarter.on_error(Instant::now())),
            Duration::from_secs(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_is_reported() {
        let mut restarter = Restarter::new(RestartPolicy::Never, &plain(1, 8));
        restarter.start(Duration::ZERO);
        assert_eq!(
            restarter.on_error(Instant::now()),
            Restart::Exhausted {
                restarts_in_window: 0
            }
        );
    }
}
