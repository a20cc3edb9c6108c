//! What a vertex declares about stalls: how long it may sit on queued input without progress,
//! and what the supervisor's watchdog does when it does.

use std::time::Duration;

use serde::Serialize;

/// How long an operator or sink may have input queued without making progress before the
/// watchdog reports it as stalled, unless it declares its own
/// ([`OperatorGraph::stall_after`](crate::OperatorGraph::stall_after)): 30 seconds.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(30);

/// What the supervisor's stall watchdog does with a stalled operator, declared per vertex with
/// [`OperatorGraph::on_stall`](crate::OperatorGraph::on_stall) (or `on_stall = report | restart`
/// in `pipeline!`).
///
/// An operator or sink is **stalled** when items wait on its input and it has made no progress
/// (taken no item from its input, put none on its outputs) for its `stall_after`
/// ([`DEFAULT_STALL_AFTER`] unless declared). Either way the stall is reported once: a
/// `stalled` event on the graph's event bus and in the supervisor's log, the gauge
/// `operator_stalled{operator}` at 1, the operator's state `stalled` (so `/health` says
/// `degraded` and names it). The report ends when it makes progress again.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::{OnStall, OperatorGraph, RestartPolicy, SinkContext};
///
/// let mut graph = OperatorGraph::new();
/// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
/// let out = graph.add_sink("archive", RestartPolicy::default(), |_ctx: SinkContext<u8>| async {
///     Ok(())
/// });
/// graph.connect(&src, &out);
/// graph
///     .stall_after(&out, Duration::from_secs(5))
///     .on_stall(&out, OnStall::Restart);
/// let archive = &graph.topology().vertices[1];
/// assert_eq!(archive.stall_after, Duration::from_secs(5));
/// assert_eq!(archive.on_stall, OnStall::Restart);
/// assert_eq!(OnStall::default(), OnStall::Report);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnStall {
    /// Report the stall and leave the operator alone (the default): it may be waiting on
    /// something slow outside, and a person decides.
    #[default]
    Report,
    /// Report the stall, then abort the operator's incarnation and restart it under its
    /// [`RestartPolicy`](crate::RestartPolicy), as if it had returned an error: the restart
    /// counts against its budget (a spent budget escalates), its queued input survives, and the
    /// items it held (taken and not finished) are counted as dropped, as for any failed
    /// incarnation (see [`Inbox::give_back`](crate::Inbox::give_back)). The abort takes effect
    /// at the incarnation's next `.await`: an operator that blocks its thread cannot be
    /// aborted, only reported.
    Restart,
}

impl OnStall {
    /// The name as serialized and as `pipeline!` spells it: `report` or `restart`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnStall::Report => "report",
            OnStall::Restart => "restart",
        }
    }
}

impl std::fmt::Display for OnStall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One vertex's stall settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StallPolicy {
    pub(crate) after: Duration,
    pub(crate) on_stall: OnStall,
}

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy {
            after: DEFAULT_STALL_AFTER,
            on_stall: OnStall::Report,
        }
    }
}
