//! `GET /edges`: every edge's queue, counts and waits, from the monitor.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ControlPlane;
use crate::monitor::EdgeSnapshot;

/// The answer of `GET /edges`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EdgesBody {
    /// Every edge, in declaration order.
    edges: Vec<EdgeSnapshot>,
}

/// Every edge's depth, capacity, counts, blocked time, drops, filtered and lagged items.
#[utoipa::path(
    get,
    path = "/edges",
    tag = "observe",
    responses((status = 200, description = "Every edge, in declaration order", body = EdgesBody))
)]
pub(crate) async fn edges(State(plane): State<ControlPlane>) -> Json<EdgesBody> {
    Json(EdgesBody {
        edges: plane.monitor.snapshot().edges,
    })
}
