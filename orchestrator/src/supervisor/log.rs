//! One structured event per supervisor decision, logged and published on the graph's event bus.
//! Field `event` names the decision; per-operator events also carry `operator`, `attempt`,
//! `restarts_in_window` and `reason`.

/// The target every decision is logged under, for filtering.
pub(crate) const TARGET: &str = "sda_orchestrator::supervisor";

/// Logs one decision about one operator at `$level`, and publishes it on `$bus` (an
/// [`EventBus`](crate::events::EventBus)) as the [`EventKind`](crate::events::EventKind)
/// `$kind`.
macro_rules! decision {
    ($bus:expr, $level:ident, $kind:ident, $operator:expr, $attempt:expr, $in_window:expr, $reason:expr) => {{
        let kind = $crate::events::EventKind::$kind;
        let operator: &str = &$operator;
        let reason: &str = &$reason;
        let attempt: u32 = $attempt;
        let in_window: u32 = $in_window;
        tracing::$level!(
            target: $crate::supervisor::log::TARGET,
            event = kind.as_str(),
            operator = %operator,
            attempt = attempt,
            restarts_in_window = in_window,
            reason = %reason,
            "supervisor: {}",
            kind.as_str(),
        );
        $bus.publish($crate::events::Draft {
            event: kind,
            severity: $crate::supervisor::log::severity!($level),
            operator: Some(operator),
            attempt: Some(u64::from(attempt)),
            restarts_in_window: Some(u64::from(in_window)),
            reason,
        });
    }};
}

/// The [`Severity`](crate::events::Severity) of a `tracing` level name.
macro_rules! severity {
    (info) => {
        $crate::events::Severity::Info
    };
    (warn) => {
        $crate::events::Severity::Warn
    };
    (error) => {
        $crate::events::Severity::Error
    };
}

/// Logs and publishes one event about the whole graph (`shutdown_started`, `escalate`,
/// `shutdown_complete`); extra `tracing` fields go after the reason.
macro_rules! graph_event {
    ($bus:expr, $level:ident, $kind:ident, $operator:expr, $reason:expr $(, $($field:tt)+)?) => {{
        let kind = $crate::events::EventKind::$kind;
        let operator: Option<&str> = $operator;
        let reason: &str = &$reason;
        tracing::$level!(
            target: $crate::supervisor::log::TARGET,
            event = kind.as_str(),
            reason = %reason,
            $($($field)+,)?
            "supervisor: {}",
            kind.as_str(),
        );
        $bus.publish($crate::events::Draft {
            event: kind,
            severity: $crate::supervisor::log::severity!($level),
            operator,
            attempt: None,
            restarts_in_window: None,
            reason,
        });
    }};
}

pub(crate) use {decision, graph_event, severity};
