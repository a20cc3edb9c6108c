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
    /// they can be paused.
    #[error("operator `{operator}` is a {role}, not a source: only sources can be paused")]
    NotASource {
        /// The vertex's name.
        operator: String,
        /// Its role: [`Role::Operator`] or [`Role::Sink`].
        role: Role,
    },
}
