//! How a supervisor runs a graph: drain deadline, restart backoff, metrics interval, stall
//! watchdog.

use std::time::Duration;

use crate::resilience::Jitter;

/// How a supervisor runs a graph. The defaults suit a long-running service.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::SupervisorPolicy;
///
/// let policy = SupervisorPolicy::default()
///     .with_drain_deadline(Duration::from_secs(10))
///     .with_restart_backoff(Duration::from_millis(50), Duration::from_secs(2));
/// assert_eq!(policy.drain_deadline(), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorPolicy {
    drain_deadline: Duration,
    restart_backoff_base: Duration,
    restart_backoff_cap: Duration,
    restart_jitter: Jitter,
    metrics_interval: Duration,
    stall_watchdog: bool,
}

impl Default for SupervisorPolicy {
    /// A 30 s drain deadline, restarts after a decorrelated-jitter backoff between 100 ms and
    /// 5 s, metrics published every second, and the stall watchdog on.
    fn default() -> Self {
        SupervisorPolicy {
            drain_deadline: Duration::from_secs(30),
            restart_backoff_base: Duration::from_millis(100),
            restart_backoff_cap: Duration::from_secs(5),
            restart_jitter: Jitter::Decorrelated,
            metrics_interval: Duration::from_secs(1),
            stall_watchdog: true,
        }
    }
}

impl SupervisorPolicy {
    /// How long a shutdown may take to drain before what still runs is aborted.
    pub fn with_drain_deadline(mut self, deadline: Duration) -> Self {
        self.drain_deadline = deadline;
        self
    }

    /// The bounds of the jittered delay before a restart, for the graph's vertices and for
    /// router feeds alike. Consecutive failures of one operator back off further (decorrelated
    /// jitter by default, see [`Backoff`](crate::resilience::Backoff)); an incarnation that ran longer than
    /// `cap` starts the schedule over.
    pub fn with_restart_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.restart_backoff_base = base;
        self.restart_backoff_cap = cap.max(base);
        self
    }

    /// How restart delays are spread between the backoff bounds. The default,
    /// [`Jitter::Decorrelated`], keeps operators that failed together from restarting together;
    /// [`Jitter::None`] gives the plain exponential schedule `min(cap, base * 2^k)`, which is
    /// reproducible.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::SupervisorPolicy;
    /// use sda_orchestrator::resilience::Jitter;
    ///
    /// let policy = SupervisorPolicy::default().with_restart_jitter(Jitter::None);
    /// assert_eq!(policy.restart_jitter(), Jitter::None);
    /// assert_eq!(SupervisorPolicy::default().restart_jitter(), Jitter::Decorrelated);
    /// ```
    pub fn with_restart_jitter(mut self, jitter: Jitter) -> Self {
        self.restart_jitter = jitter;
        self
    }

    /// How often operator and edge metrics are published.
    pub fn with_metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Turns the stall watchdog on (the default) or off for the whole graph. Each vertex's
    /// threshold and action are declared on the graph
    /// ([`OperatorGraph::stall_after`](crate::OperatorGraph::stall_after),
    /// [`OperatorGraph::on_stall`](crate::OperatorGraph::on_stall)); off, nothing is ever
    /// reported as stalled.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::SupervisorPolicy;
    ///
    /// assert!(SupervisorPolicy::default().stall_watchdog());
    /// assert!(!SupervisorPolicy::default().with_stall_watchdog(false).stall_watchdog());
    /// ```
    pub fn with_stall_watchdog(mut self, on: bool) -> Self {
        self.stall_watchdog = on;
        self
    }

    /// Whether the stall watchdog runs.
    pub fn stall_watchdog(&self) -> bool {
        self.stall_watchdog
    }

    /// The drain deadline.
    pub fn drain_deadline(&self) -> Duration {
        self.drain_deadline
    }

    /// The smallest restart delay.
    pub fn restart_backoff_base(&self) -> Duration {
        self.restart_backoff_base
    }

    /// The largest restart delay.
    pub fn restart_backoff_cap(&self) -> Duration {
        self.restart_backoff_cap
    }

    /// How restart delays are spread between the backoff bounds.
    pub fn restart_jitter(&self) -> Jitter {
        self.restart_jitter
    }

    /// The metrics publication interval.
    pub fn metrics_interval(&self) -> Duration {
        self.metrics_interval
    }
}
