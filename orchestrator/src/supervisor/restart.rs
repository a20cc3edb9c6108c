//! Restart policies and the pure state machine that decides whether a failed operator may be
//! restarted.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How the supervisor treats an operator whose future returns an error.
///
/// Only [`TaskExit::Errored`](crate::supervisor::TaskExit::Errored) is ever restarted: a clean exit
/// means the operator is finished, and a panic is a bug that is surfaced rather than retried.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::RestartPolicy;
///
/// // At most 5 restarts inside any 60-second window; the sixth failure escalates.
/// let policy = RestartPolicy::bounded(5, Duration::from_secs(60));
/// assert_eq!(policy, RestartPolicy::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Never restart: the first error escalates and shuts the graph down.
    Never,
    /// Always restart, however often it fails. Use only where a failure can never be
    /// persistent, since a crash loop under this policy never escalates.
    Always,
    /// Restart at most `max_restarts` times inside any sliding `window`; restarts older than
    /// the window age out and give their budget back.
    Bounded {
        /// Restarts allowed inside one window.
        max_restarts: u32,
        /// The length of the sliding window.
        #[serde(with = "duration_secs")]
        #[cfg_attr(feature = "http", schema(value_type = f64))]
        window: Duration,
    },
}

impl RestartPolicy {
    /// `Bounded { max_restarts, window }`.
    pub const fn bounded(max_restarts: u32, window: Duration) -> Self {
        RestartPolicy::Bounded {
            max_restarts,
            window,
        }
    }
}

impl Default for RestartPolicy {
    /// `Bounded { max_restarts: 5, window: 60 s }`: rides out a burst of transient failures and
    /// escalates a crash loop within a minute.
    fn default() -> Self {
        RestartPolicy::bounded(5, Duration::from_secs(60))
    }
}

mod duration_secs {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// What [`RestartBudget::on_failure`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart the operator.
    Restart {
        /// Which restart this is over the operator's lifetime, counting from 1.
        attempt: u32,
        /// Restarts inside the current window, this one included.
        restarts_in_window: u32,
    },
    /// The budget is spent: escalate.
    Exhausted {
        /// Restarts inside the current window when the budget ran out.
        restarts_in_window: u32,
    },
}

/// The restart budget of one operator: a pure state machine with time in and a decision out, so
/// that it can be tested with a paused clock and no task at all.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::RestartPolicy;
/// use sda_orchestrator::supervisor::{RestartBudget, RestartDecision};
/// use tokio::time::Instant;
///
/// let mut budget = RestartBudget::new(RestartPolicy::bounded(1, Duration::from_secs(10)));
/// let t0 = Instant::now();
/// assert!(matches!(budget.on_failure(t0), RestartDecision::Restart { attempt: 1, .. }));
/// assert!(matches!(budget.on_failure(t0), RestartDecision::Exhausted { .. }));
/// // Ten seconds later the first restart has aged out of the window.
/// let later = t0 + Duration::from_secs(10);
/// assert!(matches!(budget.on_failure(later), RestartDecision::Restart { attempt: 2, .. }));
/// ```
#[derive(Debug, Clone)]
pub struct RestartBudget {
    policy: RestartPolicy,
    recent: VecDeque<Instant>,
    total: u32,
}

impl RestartBudget {
    /// A fresh budget for `policy`.
    pub fn new(policy: RestartPolicy) -> Self {
        RestartBudget {
            policy,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// The policy this budget applies.
    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// Restarts granted over the budget's lifetime.
    pub fn total_restarts(&self) -> u32 {
        self.total
    }

    /// Records a failure at `now` and decides whether the operator may restart.
    ///
    /// A restart at time `t` counts against the window while `now < t + window`.
    pub fn on_failure(&mut self, now: Instant) -> RestartDecision {
        match self.policy {
            RestartPolicy::Never => RestartDecision::Exhausted {
                restarts_in_window: 0,
            },
            RestartPolicy::Always => {
                self.total = self.total.saturating_add(1);
                RestartDecision::Restart {
                    attempt: self.total,
                    restarts_in_window: 1,
                }
            }
            RestartPolicy::Bounded {
                max_restarts,
                window,
            } => {
                while self.recent.front().is_some_and(|&t| t + window <= now) {
                    self.recent.pop_front();
                }
                let in_window = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
                if in_window >= max_restarts {
                    return RestartDecision::Exhausted {
                        restarts_in_window: in_window,
                    };
                }
                self.recent.push_back(now);
                self.total = self.total.saturating_add(1);
                RestartDecision::Restart {
                    attempt: self.total,
                    restarts_in_window: in_window + 1,
                }
            }
        }
    }
}
