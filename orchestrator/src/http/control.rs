//! `POST /operators/{name}/pause` and `/resume`: the endpoints that change state, each
//! attempt recorded as one control event.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, ExtensionRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ControlPlane;
use super::auth::authorize;
use super::error::ApiError;
use crate::control::ControlError;
use crate::monitor::OperatorState;

/// The target every control event is logged under.
pub(crate) const TARGET: &str = "sda_orchestrator::control";

/// The header a client may set to say who acts, recorded next to its address.
const ACTOR_HEADER: &str = "x-actor";
/// The most characters of the `X-Actor` header recorded.
const MAX_ACTOR: usize = 64;
/// The most characters of an operator name (as requested) recorded.
const MAX_OPERATOR: usize = 128;

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

#[derive(Serialize)]
struct Changed {
    operator: String,
    paused: bool,
    state: OperatorState,
    /// Whether this request changed anything: pausing a paused source is accepted and does
    /// nothing.
    changed: bool,
}

type Peer = Result<ConnectInfo<SocketAddr>, ExtensionRejection>;

pub(crate) async fn pause(
    State(plane): State<ControlPlane>,
    Path(operator): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&plane, Action::Pause, &operator, peer, &headers, body)
}

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
    let actor = actor(peer.ok(), headers);
    let refuse = |outcome: &str, error: ApiError| {
        record(action, operator, outcome, &actor, false);
        error.into_response()
    };
    // The token is checked before anything else, so that an unauthenticated client learns
    // nothing about the graph (not even which operators exist).
    if let Err(refusal) = authorize(headers, plane.token.as_deref()) {
        return refuse(refusal.outcome(), refusal.into_error());
    }
    // The body is read (so that the limit applies to it) and otherwise ignored.
    if let Err(rejection) = body {
        let error = ApiError::new(rejection.status(), rejection.body_text());
        return refuse("bad_request", error);
    }
    let result = match action {
        Action::Pause => plane.controls.pause(operator),
        Action::Resume => plane.controls.resume(operator),
    };
    let changed = match result {
        Ok(changed) => changed,
        Err(error @ ControlError::UnknownOperator(_)) => {
            return refuse(
                "unknown_operator",
                ApiError::new(StatusCode::NOT_FOUND, error.to_string()),
            );
        }
        Err(error) => {
            return refuse(
                "not_a_source",
                ApiError::new(StatusCode::CONFLICT, error.to_string()),
            );
        }
    };
    record(action, operator, "accepted", &actor, changed);
    let state = plane
        .monitor
        .snapshot()
        .operators
        .into_iter()
        .find(|op| op.name == operator)
        .map_or(OperatorState::Pending, |op| op.state);
    Json(Changed {
        operator: operator.to_owned(),
        paused: action == Action::Pause,
        state,
        changed,
    })
    .into_response()
}

/// Who acts: the client's address when the server recorded it, else `unknown`, followed by the
/// `X-Actor` header's value in parentheses when there is one (printable ASCII only, cut short,
/// since it is the client's own claim).
fn actor(peer: Option<ConnectInfo<SocketAddr>>, headers: &HeaderMap) -> String {
    let address = peer.map_or_else(
        || "unknown".to_owned(),
        |ConnectInfo(addr)| addr.to_string(),
    );
    let claimed = headers
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| printable(v, MAX_ACTOR))
        .filter(|v| !v.is_empty());
    match claimed {
        Some(name) => format!("{address} ({name})"),
        None => address,
    }
}

/// `text` with anything but printable ASCII replaced by `?`, cut to `max` characters, so that
/// what a client sends cannot forge log lines or flood them.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// One structured event per control attempt; its own timestamp is the time of the action.
fn record(action: Action, operator: &str, outcome: &str, actor: &str, changed: bool) {
    let operator = printable(operator, MAX_OPERATOR);
    if outcome == "accepted" {
        tracing::info!(
            target: TARGET,
            event = action.as_str(),
            operator = %operator,
            outcome,
            actor = %actor,
            changed,
            "control: {} accepted",
            action.as_str(),
        );
    } else {
        tracing::warn!(
            target: TARGET,
            event = action.as_str(),
            operator = %operator,
            outcome,
            actor = %actor,
            changed,
            "control: {} refused",
            action.as_str(),
        );
    }
}
