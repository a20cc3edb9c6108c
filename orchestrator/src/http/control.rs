//! `POST /operators/{name}/pause`, `/resume` and `/throttle`, and `DELETE
//! /operators/{name}/throttle`: the endpoints that change state, each attempt recorded (logged at
//! WARN and handed to the audit hook).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, ExtensionRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ControlPlane;
use super::audit::{Actor, Attempt, Recorded, record};
use super::auth::authorize;
use super::error::{ApiError, ErrorBody};
use crate::control::{ControlError, ThrottleLimit};
use crate::monitor::OperatorState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Pause,
    Resume,
    Throttle,
    Unthrottle,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Throttle => "throttle",
            Action::Unthrottle => "unthrottle",
        }
    }
}

/// The answer to an accepted control action.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Changed {
    /// The source.
    operator: String,
    /// Whether it is paused now.
    paused: bool,
    /// Its rate limit now, if it has one.
    throttle: Option<ThrottleLimit>,
    /// Its state now.
    state: OperatorState,
    /// Whether this request changed anything: pausing a paused source, or setting the limit
    /// a source has already, is accepted and does nothing.
    changed: bool,
}

/// The body of `POST /operators/{name}/throttle`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThrottleRequest {
    /// The sustained rate, items per second: 1 to 1,000,000,000.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    per_second: u32,
    /// How many items may go at once after the source has sent below the rate: 1 to
    /// 1,000,000,000 (the rate, when left out).
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    burst: Option<u32>,
}

type Peer = Result<ConnectInfo<SocketAddr>, ExtensionRejection>;

/// Pauses a source: its next send waits until it is resumed, holding its items.
#[utoipa::path(
    post,
    path = "/operators/{name}/pause",
    tag = "control",
    params(("name" = String, Path, description = "The source's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paused (or paused already)", body = Changed),
        (status = 400, description = "The request body could not be read", body = ErrorBody),
        (status = 401, description = "No `Authorization: Bearer` header, or a malformed one", body = ErrorBody),
        (status = 403, description = "A wrong token, or no token configured (control disabled)", body = ErrorBody),
        (status = 404, description = "No operator of that name", body = ErrorBody),
        (status = 409, description = "The operator is not a source", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
    )
)]
pub(crate) async fn pause(
    State(plane): State<ControlPlane>,
    Path(operator): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&plane, Action::Pause, &operator, peer, &headers, body)
}

/// Resumes a paused source.
#[utoipa::path(
    post,
    path = "/operators/{name}/resume",
    tag = "control",
    params(("name" = String, Path, description = "The source's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resumed (or not paused)", body = Changed),
        (status = 400, description = "The request body could not be read", body = ErrorBody),
        (status = 401, description = "No `Authorization: Bearer` header, or a malformed one", body = ErrorBody),
        (status = 403, description = "A wrong token, or no token configured (control disabled)", body = ErrorBody),
        (status = 404, description = "No operator of that name", body = ErrorBody),
        (status = 409, description = "The operator is not a source", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
    )
)]
pub(crate) async fn resume(
    State(plane): State<ControlPlane>,
    Path(operator): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&plane, Action::Resume, &operator, peer, &headers, body)
}

/// Limits a source's sends to a rate (GCRA): each send waits for a permit per item, holding
/// its items, so nothing is dropped; a batch waits for permits for all of its items. Replaces
/// any limit the source had.
#[utoipa::path(
    post,
    path = "/operators/{name}/throttle",
    tag = "control",
    params(("name" = String, Path, description = "The source's name")),
    request_body(content = ThrottleRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Throttled (or throttled to this limit already)", body = Changed),
        (status = 400, description = "The body is not `{\"per_second\": N, \"burst\": M}` with N and M from 1 to 1000000000", body = ErrorBody),
        (status = 401, description = "No `Authorization: Bearer` header, or a malformed one", body = ErrorBody),
        (status = 403, description = "A wrong token, or no token configured (control disabled)", body = ErrorBody),
        (status = 404, description = "No operator of that name", body = ErrorBody),
        (status = 409, description = "The operator is not a source", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
    )
)]
pub(crate) async fn throttle(
    State(plane): State<ControlPlane>,
    Path(operator): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&plane, Action::Throttle, &operator, peer, &headers, body)
}

/// Lifts a source's rate limit.
#[utoipa::path(
    delete,
    path = "/operators/{name}/throttle",
    tag = "control",
    params(("name" = String, Path, description = "The source's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unthrottled (or not throttled)", body = Changed),
        (status = 400, description = "The request body could not be read", body = ErrorBody),
        (status = 401, description = "No `Authorization: Bearer` header, or a malformed one", body = ErrorBody),
        (status = 403, description = "A wrong token, or no token configured (control disabled)", body = ErrorBody),
        (status = 404, description = "No operator of that name", body = ErrorBody),
        (status = 409, description = "The operator is not a source", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
    )
)]
pub(crate) async fn unthrottle(
    State(plane): State<ControlPlane>,
    Path(operator): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&plane, Action::Unthrottle, &operator, peer, &headers, body)
}

fn act(
    plane: &ControlPlane,
    action: Action,
    operator: &str,
    peer: Peer,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let actor = Actor::of(peer.as_ref().ok(), headers);
    let answer = decide(plane, action, operator, headers, body);
    let (outcome, status, changed, reason, response) = match answer {
        Ok((changed, body)) => {
            let reason = match (action, changed, body.throttle) {
                (Action::Pause, true, _) => "paused".to_owned(),
                (Action::Pause, false, _) => "paused already".to_owned(),
                (Action::Resume, true, _) => "resumed".to_owned(),
                (Action::Resume, false, _) => "not paused".to_owned(),
                (Action::Throttle, true, Some(limit)) => format!("throttled to {limit}"),
                (Action::Throttle, _, limit) => format!(
                    "throttled to {} already",
                    limit.map_or_else(|| "?".to_owned(), |l| l.to_string())
                ),
                (Action::Unthrottle, true, _) => "unthrottled".to_owned(),
                (Action::Unthrottle, false, _) => "not throttled".to_owned(),
            };
            let response = Json(body).into_response();
            ("accepted", StatusCode::OK, changed, reason, response)
        }
        Err(refused) => {
            let (outcome, error) = *refused;
            let (status, reason) = (error.status, error.message.clone());
            (outcome, status, false, reason, error.into_response())
        }
    };
    record(
        plane,
        &Attempt {
            action: action.as_str(),
            operator,
            actor: &actor,
            outcome,
            status,
            changed,
            reason: &reason,
        },
    );
    let mut response = response;
    response.extensions_mut().insert(Recorded);
    response
}

/// Why an attempt was refused: its outcome, and the error answered.
type Refused = (&'static str, ApiError);

/// The answer: the change made, or the outcome that refused it with its error.
fn decide(
    plane: &ControlPlane,
    action: Action,
    operator: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(bool, Changed), Box<Refused>> {
    // The token is checked before anything else, so that an unauthenticated client learns
    // nothing about the graph (not even which operators exist).
    authorize(headers, plane.token.as_deref())
        .map_err(|refusal| Box::new((refusal.outcome(), refusal.into_error())))?;
    // The body is read (so that the limit applies to it); only a throttle's is used.
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let outcome = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "bad_request"
            };
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "request body is larger than the limit of {} bytes",
                    plane.body_limit
                )
            } else {
                rejection.body_text()
            };
            return Err(Box::new((outcome, ApiError::new(status, message))));
        }
    };
    let result = match action {
        Action::Pause => plane.controls.pause(operator),
        Action::Resume => plane.controls.resume(operator),
        Action::Throttle => {
            let limit = throttle_request(&body)?;
            let burst = limit.burst.unwrap_or(limit.per_second);
            plane.controls.throttle(operator, limit.per_second, burst)
        }
        Action::Unthrottle => plane.controls.unthrottle(operator),
    };
    let changed = result.map_err(|error| {
        Box::new(match error {
            ControlError::UnknownOperator(_) => (
                "unknown_operator",
                ApiError::new(StatusCode::NOT_FOUND, error.to_string()),
            ),
            ControlError::InvalidThrottle { .. } => (
                "bad_request",
                ApiError::new(StatusCode::BAD_REQUEST, error.to_string()),
            ),
            _ => (
                "not_a_source",
                ApiError::new(StatusCode::CONFLICT, error.to_string()),
            ),
        })
    })?;
    let now = plane
        .monitor
        .snapshot()
        .operators
        .into_iter()
        .find(|op| op.name == operator);
    Ok((
        changed,
        Changed {
            operator: operator.to_owned(),
            paused: now.as_ref().is_some_and(|op| op.paused),
            throttle: now.as_ref().and_then(|op| op.throttle),
            state: now.map_or(OperatorState::Pending, |op| op.state),
            changed,
        },
    ))
}

/// The body of a throttle request, or why it is refused (400).
fn throttle_request(body: &[u8]) -> Result<ThrottleRequest, Box<Refused>> {
    serde_json::from_slice(body).map_err(|error| {
        let message = format!(
            "the body must be `{{\"per_second\": N, \"burst\": M}}` (burst optional): {error}"
        );
        Box::new((
            "bad_request",
            ApiError::new(StatusCode::BAD_REQUEST, message),
        ))
    })
}
