//! Point-in-time copies of a graph's state, ready to serialize.

use serde::Serialize;

use super::OperatorState;
use crate::control::ThrottleLimit;

/// A point-in-time copy of a graph's state, ready to serialize.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct GraphSnapshot {
    /// Every vertex, in declaration order.
    pub operators: Vec<OperatorSnapshot>,
    /// Every edge, in declaration order.
    pub edges: Vec<EdgeSnapshot>,
}

/// One vertex in a [`GraphSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct OperatorSnapshot {
    /// Its name.
    pub name: String,
    /// `source`, `operator` or `sink`.
    pub role: &'static str,
    /// Where it is in its life.
    pub state: OperatorState,
    /// Restarts so far.
    pub restarts: u64,
    /// Seconds since the running incarnation started; 0 when not running.
    pub uptime_seconds: f64,
    /// Items taken from its incoming edges.
    pub received: u64,
    /// Items put on its outgoing edges, once per edge.
    pub sent: u64,
    /// Items lost on its incoming edges: still queued when it finished or failed for good,
    /// sent after it had, or taken by an incarnation that failed before finishing them. Zero
    /// in a graph that drains and restarts without losing anything.
    pub dropped: u64,
    /// The last error it returned or the message it panicked with, if any, cut to
    /// [`MAX_ERROR_TEXT`](super::MAX_ERROR_TEXT) bytes.
    pub last_error: Option<String>,
    /// Whether it is a source that is paused (see [`GraphControls`](crate::control::GraphControls)).
    /// Always `false` for operators and sinks.
    pub paused: bool,
    /// Whether the stall watchdog reports it as stalled: input queued and no progress for its
    /// `stall_after` (see [`OnStall`](crate::OnStall)). Always `false` for sources.
    pub stalled: bool,
    /// A source's rate limit, if it is throttled
    /// ([`GraphControls::throttle`](crate::control::GraphControls::throttle)).
    pub throttle: Option<ThrottleLimit>,
    /// Seconds a source's sends have waited for throttle permits so far; 0 for operators and
    /// sinks.
    pub throttled_seconds: f64,
}

/// One edge in a [`GraphSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct EdgeSnapshot {
    /// `from->to`.
    pub name: String,
    /// How many items it holds.
    pub capacity: usize,
    /// Items queued now.
    pub depth: u64,
    /// Items sent on it so far.
    pub sent: u64,
    /// Items received from it so far.
    pub received: u64,
    /// Seconds producers spent waiting for room on it.
    pub blocked_seconds: f64,
    /// Items lost on it: sent after its consumer had finished for good, still queued when it
    /// did, or taken by an incarnation of the consumer that failed before finishing them.
    pub dropped: u64,
    /// `plain`, `priority` (emergency and routine lanes) or `broadcast` (lossy).
    pub kind: &'static str,
    /// Items sent on the emergency lane of a priority edge (0 on other edges).
    pub emergency: u64,
    /// Items the edge's filter did not keep (0 on an edge without a filter): routed elsewhere,
    /// not lost.
    pub filtered: u64,
    /// Items a lagging consumer of a broadcast edge missed (0 on other edges).
    pub lagged: u64,
    /// The latest watermark its producer put on it, in microseconds since the Unix epoch
    /// (`None` before the first; see [`time`](crate::time)).
    pub watermark_unix_micros: Option<i64>,
    /// How far that watermark is behind the wall clock, in seconds (negative when ahead).
    pub watermark_lag_seconds: Option<f64>,
    /// Whether its consumer has marked it idle: it said nothing for the graph's idle timeout and
    /// is left out of the consumer's watermark until it speaks again.
    pub idle: bool,
}
