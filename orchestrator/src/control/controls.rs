//! The cloneable handle that pauses and resumes a graph's sources.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ControlError, PauseGate, ThrottleLimit};
use crate::events::{Draft, EventKind, Severity};
use crate::monitor::GraphMonitor;

/// Pauses, resumes and throttles the sources of a graph, before or while it runs. Every action
/// that changes something is published on the graph's event bus ([`EventKind::Paused`],
/// [`EventKind::Resumed`], [`EventKind::Throttled`], [`EventKind::Unthrottled`]). Cheap to
/// clone; every clone controls the same graph. Take it from
/// [`BuiltGraph::controls`](crate::BuiltGraph::controls).
///
/// While a source is paused, its [`Outbox::send`](crate::Outbox::send) and
/// [`send_batch`](crate::Outbox::send_batch) wait before sending, holding the item: nothing is
/// dropped and nothing is restarted, so a source written as "pull, then send" stops pulling
/// from its sensor after at most one item. A source that wants to avoid even that one pull (a
/// poller issuing requests) awaits [`SourceContext::resumed`](crate::SourceContext::resumed)
/// before each. A paused source stays paused across its restarts, and shutdown releases every
/// wait so that a paused source still drains and stops.
///
/// A throttled source ([`throttle`](GraphControls::throttle)) sends at most `per_second` items
/// per second on average, with bursts of up to `burst`: each send waits for a permit per item
/// (GCRA, on tokio's clock), holding its items, so nothing is dropped; a batch waits for
/// permits for all of its items, a burst at a time, then goes whole. The time spent waiting is
/// counted (`source_throttled_seconds_total{operator}`, the snapshot's `throttled_seconds`).
/// The limit survives restarts; shutdown ends the waits, as it does a pause's. A source that is
/// neither paused nor throttled pays one relaxed atomic load per send for the check.
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

    /// Limits the source named `operator` to `per_second` items per second, with bursts of up
    /// to `burst` items (see the type's documentation), replacing any limit it had. Returns
    /// `true` if this changed its limit, `false` if it had this one already.
    ///
    /// # Errors
    ///
    /// [`ControlError::InvalidThrottle`] unless `per_second` is 1 to
    /// [`MAX_PER_SECOND`](super::MAX_PER_SECOND) and `burst` at least 1; otherwise as
    /// [`pause`](GraphControls::pause).
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::control::ThrottleLimit;
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let mut graph = OperatorGraph::new();
    /// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("out", RestartPolicy::Never, |_ctx: SinkContext<u8>| async { Ok(()) });
    /// graph.connect(&src, &out);
    /// let built = graph.build()?;
    /// let controls = built.controls();
    ///
    /// assert_eq!(controls.throttle("radar", 500, 1000), Ok(true));
    /// assert_eq!(controls.throttle("radar", 500, 1000), Ok(false));
    /// assert_eq!(controls.throttled("radar"), Ok(Some(ThrottleLimit::new(500, 1000)?)));
    /// assert!(controls.throttle("radar", 0, 10).is_err());
    /// assert_eq!(controls.unthrottle("radar"), Ok(true));
    /// assert_eq!(controls.throttled("radar"), Ok(None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn throttle(
        &self,
        operator: &str,
        per_second: u32,
        burst: u32,
    ) -> Result<bool, ControlError> {
        let limit = ThrottleLimit::new(per_second, burst)?;
        let changed = self.gate(operator)?.set_throttle(Some(limit));
        if changed {
            let reason = format!("throttled to {limit} by a control action");
            self.publish(EventKind::Throttled, operator, &reason);
        }
        Ok(changed)
    }

    /// Lifts the rate limit of the source named `operator`, waking a send that waits for a
    /// permit. Returns `true` if it had one.
    ///
    /// # Errors
    ///
    /// As [`pause`](GraphControls::pause).
    pub fn unthrottle(&self, operator: &str) -> Result<bool, ControlError> {
        let changed = self.gate(operator)?.set_throttle(None);
        if changed {
            self.publish(
                EventKind::Unthrottled,
                operator,
                "unthrottled by a control action",
            );
        }
        Ok(changed)
    }

    /// The rate limit of the source named `operator`, if it has one.
    ///
    /// # Errors
    ///
    /// As [`pause`](GraphControls::pause).
    pub fn throttled(&self, operator: &str) -> Result<Option<ThrottleLimit>, ControlError> {
        Ok(self.gate(operator)?.throttle())
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

    /// The names of the vertices that can be paused and throttled (the sources), in declaration
    /// order.
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
