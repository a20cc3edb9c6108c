//! `GET /operators`: every operator's state, restarts, uptime, counts and last error.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ControlPlane;
use crate::monitor::OperatorSnapshot;

#[derive(Serialize)]
pub(crate) struct OperatorsBody {
    operators: Vec<OperatorSnapshot>,
}

pub(crate) async fn operators(State(plane): State<ControlPlane>) -> Json<OperatorsBody> {
    Json(OperatorsBody {
        operators: plane.monitor.snapshot().operators,
    })
}
