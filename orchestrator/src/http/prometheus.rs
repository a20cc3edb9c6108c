//! `GET /metrics`: the Prometheus text exposition.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::ControlPlane;
use super::error::{ApiError, ErrorBody};

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "observe",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 404, description = "No Prometheus recorder is configured", body = ErrorBody),
    )
)]
pub(crate) async fn metrics(State(plane): State<ControlPlane>) -> Response {
    let Some(handle) = &plane.prometheus else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "metrics are not enabled: no Prometheus recorder is configured",
        )
        .into_response();
    };
    // The supervisor publishes on its tick; publishing here too makes the gauges current to
    // the scrape rather than up to a tick old.
    plane.monitor.publish_metrics();
    let text = handle.render();
    (
        [(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT))],
        text,
    )
        .into_response()
}
