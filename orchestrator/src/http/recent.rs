//! `GET /{ring}`: the latest items of a ring the application feeds (`ControlPlane::with_recent`),
//! such as `/dead-letters`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ControlPlane;
use super::error::{ApiError, ErrorBody};

/// The most items one request returns.
pub(crate) const MAX_LIMIT: usize = 1000;
/// Items returned when no `limit` is given.
const DEFAULT_LIMIT: usize = 100;
/// The longest `reason` accepted.
const MAX_REASON: usize = 128;

/// The path the template operation is documented under; the document moves it to each ring's
/// own path.
pub(crate) const TEMPLATE_PATH: &str = "/__recent__";

/// `?limit=N&reason=R`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecentQuery {
    /// How many items, newest first: 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only the items whose `reason` or `reason_code` field is this (1 to 128 characters).
    #[param(min_length = 1, max_length = 128)]
    reason: Option<String>,
}

/// The answer: the items, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecentBody {
    /// How many items the ring holds now.
    held: usize,
    /// How many items were ever fed to it (those no longer held included).
    pushed: u64,
    /// The latest items that match, newest first.
    #[schema(value_type = Vec<Object>)]
    items: Vec<serde_json::Value>,
}

/// The latest items of the ring, newest first, optionally only those with a given `reason` (or
/// `reason_code`).
#[utoipa::path(
    get,
    path = "/__recent__",
    tag = "observe",
    params(RecentQuery),
    responses(
        (status = 200, description = "The latest items, newest first", body = RecentBody),
        (status = 400, description = "`limit` or `reason` out of range, or not a number", body = ErrorBody),
    )
)]
pub(crate) async fn recent(
    plane: &ControlPlane,
    name: &str,
    query: Result<Query<RecentQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => {
            return ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()).into_response();
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`limit` must be from 1 to {MAX_LIMIT}"),
        )
        .into_response();
    }
    if let Some(reason) = &query.reason
        && !(1..=MAX_REASON).contains(&reason.chars().count())
    {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`reason` must be 1 to {MAX_REASON} characters"),
        )
        .into_response();
    }
    let Some(ring) = plane.recent.get(name) else {
        return ApiError::new(StatusCode::NOT_FOUND, format!("no ring named `{name}`"))
            .into_response();
    };
    let items = ring.latest(limit, |item| match &query.reason {
        Some(reason) => ["reason", "reason_code"]
            .iter()
            .any(|key| item.get(key).and_then(|r| r.as_str()) == Some(reason.as_str())),
        None => true,
    });
    Json(RecentBody {
        held: ring.len(),
        pushed: ring.pushed(),
        items,
    })
    .into_response()
}

/// The handler axum routes to: `recent` for the ring `name`.
pub(crate) fn route(name: String) -> axum::routing::MethodRouter<ControlPlane> {
    axum::routing::get(
        move |State(plane): State<ControlPlane>,
              query: Result<Query<RecentQuery>, QueryRejection>| {
            let name = name.clone();
            async move { recent(&plane, &name, query).await }
        },
    )
}
