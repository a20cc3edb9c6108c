//! `GET /operators`: every operator's state, restarts, uptime, counts, last error, pause, stall
//! and rate limit.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ControlPlane;
use crate::monitor::OperatorSnapshot;

/// The answer of `GET /operators`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OperatorsBody {
    /// Every operator, in declaration order.
    operators: Vec<OperatorSnapshot>,
}

/// Every operator's role, state, restarts, uptime, counts, last error, pause, stall and
/// throttle.
#[utoipa::path(
    get,
    path = "/operators",
    tag = "observe",
    responses((status = 200, description = "Every operator, in declaration order", body = OperatorsBody))
)]
pub(crate) async fn operators(State(plane): State<ControlPlane>) -> Json<OperatorsBody> {
    Json(OperatorsBody {
        operators: plane.monitor.snapshot().operators,
    })
}
