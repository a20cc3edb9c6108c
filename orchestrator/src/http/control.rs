//! `POST /operators/{name}/pause` and `/resume`: the endpoints that change state, each
//! attempt recorded (logged at WARN and handed to the audit hook).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, ExtensionRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ControlPlane;
use super::audit::{Actor, Attempt, Recorded, record};
use super::auth::authorize;
use super::error::{ApiError, ErrorBody};
use crate::control::ControlError;
use crate::monitor::OperatorState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Pause,
    Resume,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }
}

/// The answer to an accepted pause or resume.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Changed {
    /// The source.
    operator: String,
    /// Whether it is paused now.
    paused: bool,
    /// Its state now.
    state: OperatorState,
    /// Whether this request changed anything: pausing a paused source is accepted and does
    /// nothing.
    changed: bool,
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
            let reason = match (action, changed) {
                (Action::Pause, true) => "paused",
                (Action::Pause, false) => "paused already",
                (Action::Resume, true) => "resumed",
                (Action::Resume, false) => "not paused",
            };
            let response = Json(body).into_response();
            (
                "accepted",
                StatusCode::OK,
                changed,
                reason.to_owned(),
                response,
            )
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
    // The body is read (so that the limit applies to it) and otherwise ignored.
    if let Err(rejection) = body {
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
    let result = match action {
        Action::Pause => plane.controls.pause(operator),
        Action::Resume => plane.controls.resume(operator),
    };
    let changed = result.map_err(|error| {
        Box::new(match error {
            ControlError::UnknownOperator(_) => (
                "unknown_operator",
                ApiError::new(StatusCode::NOT_FOUND, error.to_string()),
            ),
            _ => (
                "not_a_source",
                ApiError::new(StatusCode::CONFLICT, error.to_string()),
            ),
        })
    })?;
    let state = plane
        .monitor
        .snapshot()
        .operators
        .into_iter()
        .find(|op| op.name == operator)
        .map_or(OperatorState::Pending, |op| op.state);
    Ok((
        changed,
        Changed {
            operator: operator.to_owned(),
            paused: action == Action::Pause,
            state,
            changed,
        },
    ))
}
