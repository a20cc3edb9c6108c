//! JSON errors: the one error body every route answers with, `{"error": "..."}`.

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// Extra headers (`WWW-Authenticate` on a 401).
    pub(crate) headers: HeaderMap,
}

/// Every error answer's body.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, in words.
    error: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            headers: HeaderMap::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.message,
        });
        (self.status, self.headers, body).into_response()
    }
}

/// The most of a non-JSON error body read to reuse as the message.
const MAX_ERROR_BODY: usize = 4096;

/// Turns every error answer that is not JSON already (axum's rejections, its `405`, the body
/// limit's `413`) into `{"error": ...}`, keeping its status and headers.
pub(crate) async fn json_errors(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("request body is larger than the limit of {limit} bytes")
    } else {
        let text = to_bytes(body, MAX_ERROR_BODY)
            .await
            .ok()
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        text.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase())
    };
    let body = serde_json::to_vec(&ErrorBody { error: message }).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The answer for a path no route matches.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint: see /openapi.json for the routes",
    )
}
