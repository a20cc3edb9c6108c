//! How a supervised graph ended.

use std::fmt;

use serde::Serialize;

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
