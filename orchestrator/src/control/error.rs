//! Why a control action was refused.

use sda_orchestrator_topology::Role;

/// Why [`GraphControls`](crate::control::GraphControls) refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The graph has no vertex of that name.
    #[error("no operator named `{0}`")]
    UnknownOperator(String),
    /// The vertex is an operator or a sink: only sources pull from the outside world, so only
    /// they can be paused or throttled.
    #[error(
        "operator `{operator}` is a {role}, not a source: only sources can be paused or throttled"
    )]
    NotASource {
        /// The vertex's name.
        operator: String,
        /// Its role: [`Role::Operator`] or [`Role::Sink`].
        role: Role,
    },
    /// A throttle's rate is not 1 to [`MAX_PER_SECOND`](super::MAX_PER_SECOND) items per
    /// second, or its burst is not 1 to [`MAX_BURST`](super::MAX_BURST).
    #[error(
        "a throttle needs 1 to 1000000000 items per second and a burst of 1 to 1000000000 \
         (got {per_second} per second, burst {burst})"
    )]
    InvalidThrottle {
        /// The rate asked for.
        per_second: u32,
        /// The burst asked for.
        burst: u32,
    },
}
