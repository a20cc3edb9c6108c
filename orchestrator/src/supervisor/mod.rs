//! Supervision: how a graph's vertices are started, restarted, escalated and drained, and the
//! building blocks for supervising a future of your own.
//!
//! A graph is run by one supervisor ([`BuiltGraph::run`](crate::BuiltGraph::run)), configured by
//! a [`SupervisorPolicy`](crate::SupervisorPolicy) and ending with a
//! [`SupervisorEvent`](crate::SupervisorEvent); those, [`RestartPolicy`](crate::RestartPolicy)
//! and [`ShutdownHandle`](crate::ShutdownHandle) are at the crate root. This module holds what
//! the supervisor is built from, for code that supervises a future of its own: [`Task`] and the
//! four ways it can end ([`TaskExit`]), and the restart budget ([`RestartBudget`], a pure state
//! machine deciding [`RestartDecision`]s), and the default of the stall watchdog
//! ([`DEFAULT_STALL_AFTER`]; see [`OnStall`](crate::OnStall)).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use sda_orchestrator::RestartPolicy;
//! use sda_orchestrator::supervisor::{RestartBudget, RestartDecision, Task, TaskExit};
//! use tokio::time::Instant;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut budget = RestartBudget::new(RestartPolicy::bounded(2, Duration::from_secs(60)));
//! let mut outcomes = Vec::new();
//! loop {
//!     let task = Task::spawn("probe", budget.policy(), async { anyhow::bail!("no answer") });
//!     match task.join().await {
//!         TaskExit::Errored(_) => match budget.on_failure(Instant::now()) {
//!             RestartDecision::Restart { attempt, .. } => outcomes.push(attempt),
//!             RestartDecision::Exhausted { .. } => break,
//!         },
//!         other => panic!("unexpected {}", other.kind()),
//!     }
//! }
//! assert_eq!(outcomes, [1, 2]);
//! # });
//! ```

pub(crate) mod event;
pub(crate) mod log;
pub(crate) mod policy;
pub(crate) mod restart;
mod restarter;
mod run;
pub(crate) mod shutdown;
pub(crate) mod stall;
mod task;
mod watchdog;

pub use restart::{RestartBudget, RestartDecision};
pub use stall::DEFAULT_STALL_AFTER;
pub use task::{Task, TaskExit};

pub(crate) use restarter::{Restart, Restarter};
pub(crate) use run::supervise;
pub(crate) use task::panic_message;
