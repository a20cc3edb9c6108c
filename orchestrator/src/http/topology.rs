//! `GET /topology`: the graph's structure, as JSON or as a Mermaid flowchart.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ControlPlane;
use super::error::{ApiError, ErrorBody};
use crate::graph::Topology;

/// The formats `/topology` serves.
const FORMATS: &str = "json, mermaid";

/// `?format=json|mermaid`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TopologyQuery {
    /// `json` (the default) or `mermaid`.
    #[param(value_type = Option<TopologyFormat>)]
    format: Option<String>,
}

/// The formats of `GET /topology`: only for the document, since the handler answers an
/// unknown format with its own 400.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum TopologyFormat {
    /// The [`Topology`] as JSON.
    Json,
    /// A Mermaid flowchart, as text.
    Mermaid,
}

/// The graph's structure and fingerprint, as JSON or as a Mermaid flowchart.
#[utoipa::path(
    get,
    path = "/topology",
    tag = "observe",
    params(TopologyQuery),
    responses(
        (status = 200, description = "The topology: JSON, or a Mermaid flowchart with `format=mermaid`",
         content((Topology = "application/json"), (String = "text/plain"))),
        (status = 400, description = "An unknown format", body = ErrorBody),
    )
)]
pub(crate) async fn topology(
    State(plane): State<ControlPlane>,
    Query(query): Query<TopologyQuery>,
) -> Response {
    match query.format.as_deref().unwrap_or("json") {
        "json" => Json(&*plane.topology).into_response(),
        "mermaid" => (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            plane.topology.to_mermaid(),
        )
            .into_response(),
        other => {
            // The format is echoed back to its sender only, never logged or labelled, but still
            // cut short so that the answer stays small.
            let shown: String = other.chars().take(32).collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown format `{shown}`: expected one of {FORMATS}"),
            )
            .into_response()
        }
    }
}
