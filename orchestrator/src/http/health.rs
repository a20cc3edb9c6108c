//! `GET /health`: liveness plus every operator's state.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::ControlPlane;
use crate::monitor::{GraphSnapshot, OperatorState};

/// The graph's health as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Health {
    /// Every operator runs (or has finished while others run).
    Ok,
    /// Data does not flow everywhere: an operator waits out a restart backoff or is stalled,
    /// or a source is paused. Still alive.
    Degraded,
    /// The supervisor has escalated or aborted: an operator panicked, spent its restart budget
    /// or was aborted, and the graph is going down or is down.
    Failed,
    /// Every operator finished cleanly: the graph has ended and processes nothing more.
    Stopped,
}

impl Health {
    fn assess(snapshot: &GraphSnapshot) -> Self {
        let states = || snapshot.operators.iter().map(|op| op.state);
        if states().any(|s| matches!(s, OperatorState::Failed | OperatorState::Aborted)) {
            Health::Failed
        } else if !snapshot.operators.is_empty() && states().all(|s| s == OperatorState::Finished) {
            Health::Stopped
        } else if states().any(|s| {
            matches!(
                s,
                OperatorState::Restarting | OperatorState::Paused | OperatorState::Stalled
            )
        }) {
            Health::Degraded
        } else {
            Health::Ok
        }
    }

    fn status_code(self) -> StatusCode {
        match self {
            Health::Ok | Health::Degraded => StatusCode::OK,
            Health::Failed | Health::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The answer of `GET /health`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HealthBody {
    /// The graph's health.
    status: Health,
    /// Every operator's state, by name.
    operators: BTreeMap<String, OperatorState>,
    /// The operators the stall watchdog reports as stalled (input queued, no progress for
    /// their `stall_after`), in declaration order.
    stalled: Vec<String>,
}

/// The graph's health and every operator's state.
#[utoipa::path(
    get,
    path = "/health",
    tag = "observe",
    responses(
        (status = 200, description = "`ok` or `degraded`: alive", body = HealthBody),
        (status = 503, description = "`failed` or `stopped`", body = HealthBody),
    )
)]
pub(crate) async fn health(State(plane): State<ControlPlane>) -> (StatusCode, Json<HealthBody>) {
    let snapshot = plane.monitor.snapshot();
    let status = Health::assess(&snapshot);
    let stalled = snapshot
        .operators
        .iter()
        .filter(|op| op.stalled)
        .map(|op| op.name.clone())
        .collect();
    let operators = snapshot
        .operators
        .into_iter()
        .map(|op| (op.name, op.state))
        .collect();
    (
        status.status_code(),
        Json(HealthBody {
            status,
            operators,
            stalled,
        }),
    )
}
