//! One supervisor per graph: starts the vertices, restarts what may be restarted, surfaces what
//! must not be hidden, and drains on shutdown.

pub(crate) mod log;
mod restarter;
mod run;

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub(crate) use restarter::{Restart, Restarter};
pub(crate) use run::supervise;

use crate::Jitter;

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
}

impl Default for SupervisorPolicy {
    /// A 30 s drain deadline, restarts after a decorrelated-jitter backoff between 100 ms and
    /// 5 s, and metrics published every second.
    fn default() -> Self {
        SupervisorPolicy {
            drain_deadline: Duration::from_secs(30),
            restart_backoff_base: Duration::from_millis(100),
            restart_backoff_cap: Duration::from_secs(5),
            restart_jitter: Jitter::Decorrelated,
            metrics_interval: Duration::from_secs(1),
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
    /// jitter by default, see [`Backoff`](crate::Backoff)); an incarnation that ran longer than
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
    /// use sda_orchestrator::{Jitter, SupervisorPolicy};
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

/// How a supervised graph ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SupervisorEvent {
    /// Every vertex finished: the sources ran out or were told to stop, and everything they
    /// produced drained through the graph.
    CleanShutdown,
    /// An operator panicked. Panics are never restarted; the rest of the graph was aborted.
    Panicked {
        /// The operator that panicked.
        operator: String,
        /// The panic message.
        message: String,
    },
    /// An operator failed more often than its restart policy allows; the rest of the graph was
    /// aborted. A [`RestartPolicy::Never`](crate::RestartPolicy::Never) operator spends its
    /// budget on its first error.
    BudgetExhausted {
        /// The operator whose budget ran out.
        operator: String,
        /// Restarts inside the policy's window when it ran out.
        restarts_in_window: u32,
        /// The error that found the budget spent.
        last_error: String,
    },
    /// An operator could not be restarted because its previous incarnation never gave its
    /// input back: it moved its inbox into a task of its own, which outlived it.
    InputNotReturned {
        /// The operator.
        operator: String,
    },
    /// A shutdown did not drain within the deadline; these vertices were still running and
    /// were aborted.
    DeadlineExceeded {
        /// The aborted vertices, in topological order.
        aborted: Vec<String>,
    },
}

impl SupervisorEvent {
    /// Whether the graph ended cleanly, with nothing aborted.
    pub fn is_clean(&self) -> bool {
        matches!(self, SupervisorEvent::CleanShutdown)
    }

    /// The operator that ended the graph, when one did.
    pub fn operator(&self) -> Option<&str> {
        match self {
            SupervisorEvent::Panicked { operator, .. }
            | SupervisorEvent::BudgetExhausted { operator, .. }
            | SupervisorEvent::InputNotReturned { operator } => Some(operator),
            SupervisorEvent::CleanShutdown | SupervisorEvent::DeadlineExceeded { .. } => None,
        }
    }
}

impl fmt::Display for SupervisorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorEvent::CleanShutdown => f.write_str("clean shutdown"),
            SupervisorEvent::Panicked { operator, message } => {
                write!(f, "operator `{operator}` panicked: {message}")
            }
            SupervisorEvent::BudgetExhausted {
                operator,
                restarts_in_window,
                last_error,
            } => write!(
                f,
                "operator `{operator}` exhausted its restart budget after {restarts_in_window} \
                 restarts in the window: {last_error}"
            ),
            SupervisorEvent::InputNotReturned { operator } => write!(
                f,
                "operator `{operator}` cannot restart: its input was moved out of the operator"
            ),
            SupervisorEvent::DeadlineExceeded { aborted } => {
                write!(f, "drain deadline exceeded; aborted {}", aborted.join(", "))
            }
        }
    }
}

/// Starts a graceful shutdown of a running graph. Cloneable; every clone stops the same graph.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext, SupervisorPolicy};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut graph = OperatorGraph::new();
/// let ticks = graph.add_source("ticks", RestartPolicy::default(), |mut ctx| async move {
///     let mut n = 0u64;
///     loop {
///         tokio::select! {
///             _ = ctx.shutdown.cancelled() => return Ok(()),
///             sent = ctx.output.send(n) => sent?,
///         }
///         n += 1;
///     }
/// });
/// let sink = graph.add_sink("sink", RestartPolicy::Never, |mut ctx: SinkContext<u64>| async move {
///     while ctx.input.recv().await.is_some() {}
///     Ok(())
/// });
/// graph.connect(&ticks, &sink);
/// let built = graph.build()?;
/// let stop = built.shutdown_handle();
/// let running = tokio::spawn(built.run(SupervisorPolicy::default()));
/// stop.shutdown();
/// assert!(running.await.unwrap().is_clean());
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    pub(crate) fn new(token: CancellationToken) -> Self {
        ShutdownHandle { token }
    }

    /// Starts the shutdown. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_shutdown(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The underlying token: the one every source's context carries.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}
