//! One structured event per supervisor decision. Field `event` names the decision; per-operator
//! events also carry `operator`, `attempt`, `restarts_in_window` and `reason`.

/// The target every decision is logged under, for filtering.
pub(crate) const TARGET: &str = "sda_orchestrator::supervisor";

/// Logs one decision about one operator.
macro_rules! decision {
    ($level:ident, $event:literal, $operator:expr, $attempt:expr, $in_window:expr, $reason:expr) => {
        tracing::$level!(
            target: $crate::supervisor::log::TARGET,
            event = $event,
            operator = %$operator,
            attempt = $attempt,
            restarts_in_window = $in_window,
            reason = %$reason,
            concat!("supervisor: ", $event),
        )
    };
}

pub(crate) use decision;
