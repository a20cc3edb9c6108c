//! The cloneable handle that pauses and resumes a graph's sources.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ControlError, PauseGate};
use crate::events::{Draft, EventKind, Severity};
use crate::monitor::GraphMonitor;

/// Pauses and resumes the sources of a graph, before or while it runs. Every pause and resume
/// that changes something is published on the graph's event bus
/// ([`EventKind::Paused`], [`EventKind::Resumed`]). Cheap to clone; every clone
/// controls the same graph. Take it from [`BuiltGraph::controls`](crate::BuiltGraph::controls).
///
/// While a source is paused, its [`Outbox::send`](crate::Outbox::send) and
/// [`send_batch`](crate::Outbox::send_batch) wait before sending, holding the item: nothing is
/// dropped and nothing is restarted, so a source written as "pull, then send" stops pulling
/// from its sensor after at most one item. A source that wants to avoid even that one pull (a
/// poller issuing requests) awaits [`SourceContext::resumed`](crate::SourceContext::resumed)
/// before each. A paused source stays paused across its restarts, and shutdown releases every
/// wait so that a paused source still drains and stops. When not paused, a send pays one relaxed
/// atomic load for the check.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
/// use sda_orchestrator::control::ControlError;
/// use sda_orchestrator::monitor::OperatorState;
///
/// let mut graph = OperatorGraph::new();
/// let ticks = graph.add_source("ticks", RestartPolicy::default(), |mut ctx| async move {
///     ctx.output.send(1u32).await?;
///     Ok(())
/// });
/// let sink = graph.add_sink("sink", RestartPolicy::Never, |mut ctx: SinkContext<u32>| async move {
///     while ctx.input.recv().await.is_some() {}
///     Ok(())
/// });
/// graph.connect(&ticks, &sink);
/// let built = graph.build()?;
/// let controls = built.controls();
///
/// assert_eq!(controls.pause("ticks"), Ok(true));
/// assert_eq!(controls.pause("ticks"), Ok(false)); // idempotent
/// assert_eq!(controls.is_paused("ticks"), Ok(true));
/// assert_eq!(built.monitor().snapshot().operators[0].state, OperatorState::Paused);
/// assert!(matches!(controls.pause("sink"), Err(ControlError::NotASource { .. })));
/// assert!(matches!(controls.resume("nope"), Err(ControlError::UnknownOperator(_))));
/// assert_eq!(controls.resume("ticks"), Ok(true));
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GraphControls {
    monitor: GraphMonitor,
    by_name: Arc<HashMap<Arc<str>, usize>>,
}

impl GraphControls {
    pub(crate) fn new(monitor: GraphMonitor) -> Self {
        let by_name = (0..monitor.operator_count())
            .filter_map(|i| monitor.operator(i).map(|op| (Arc::clone(&op.name), i)))
            .collect();
        GraphControls {
            monitor,
            by_name: Arc::new(by_name),
        }
    }

    /// Pauses the source named `operator`: its next send waits until it is resumed. Returns
    /// `true` if this call paused it, `false` if it was paused already.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownOperator`] when the graph has no vertex of that name,
    /// [`ControlError::NotASource`] when it is an operator or a sink.
    pub fn pause(&self, operator: &str) -> Result<bool, ControlError> {
        let changed = self.gate(operator)?.pause();
        if changed {
            self.publish(EventKind::Paused, operator, "paused by a control action");
        }
        Ok(changed)
    }

    /// Resumes the source named `operator`, waking a send that waits. Returns `true` if this
    /// call resumed it, `false` if it was not paused.
    ///
    /// # Errors
    ///
    /// As [`pause`](GraphControls::pause).
    pub fn resume(&self, operator: &str) -> Result<bool, ControlError> {
        let changed = self.gate(operator)?.resume();
        if changed {
            self.publish(EventKind::Resumed, operator, "resumed by a control action");
        }
        Ok(changed)
    }

    /// Publishes a control action on the graph's event bus.
    fn publish(&self, event: EventKind, operator: &str, reason: &str) {
        self.monitor.events().publish(Draft {
            event,
            severity: Severity::Info,
            operator: Some(operator),
            attempt: None,
            restarts_in_window: None,
            reason,
        });
    }

    /// Whether the source named `operator` is paused.
    ///
    /// # Errors
    ///
    /// As [`pause`](GraphControls::pause).
    pub fn is_paused(&self, operator: &str) -> Result<bool, ControlError> {
        Ok(self.gate(operator)?.is_paused())
    }

    /// The names of the vertices that can be paused (the sources), in declaration order.
    pub fn sources(&self) -> Vec<String> {
        (0..self.monitor.operator_count())
            .filter_map(|i| self.monitor.operator(i))
            .filter(|op| op.pause.is_some())
            .map(|op| op.name.to_string())
            .collect()
    }

    fn gate(&self, operator: &str) -> Result<&PauseGate, ControlError> {
        let status = self
            .by_name
            .get(operator)
            .and_then(|&i| self.monitor.operator(i))
            .ok_or_else(|| ControlError::UnknownOperator(operator.to_owned()))?;
        status
            .pause
            .as_deref()
            .ok_or_else(|| ControlError::NotASource {
                operator: operator.to_owned(),
                role: status.role,
            })
    }
}
