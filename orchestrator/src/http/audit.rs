//! The record of every control attempt: one WARN log event and one [`ControlRecord`] handed to
//! the application's audit hook, for accepted and refused attempts alike (oversized bodies
//! included).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::ControlPlane;

/// The target every control event is logged under.
pub(crate) const TARGET: &str = "sda_orchestrator::control";

/// The header a client may set to say who acts, recorded next to its address.
const ACTOR_HEADER: &str = "x-actor";
/// The most characters of the `X-Actor` header recorded.
const MAX_ACTOR: usize = 64;
/// The most characters of an operator name (as requested) recorded.
const MAX_OPERATOR: usize = 128;

/// The application's audit hook.
pub(crate) type AuditHook = Arc<dyn Fn(&ControlRecord) + Send + Sync>;

/// One control attempt, accepted or refused, as the audit hook of
/// [`ControlPlane::with_audit`] receives it and the log records it.
///
/// Text that comes from the client (the operator name as requested, the `X-Actor` header) is
/// escaped: every character but ASCII letters, digits and `-_.:@/+` is written as `\xNN` or
/// `\u{N}`, so that no quote, space, `=` or line break of a client's can forge a field or a line
/// in a log, human-readable or JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct ControlRecord {
    /// When the answer was decided, in milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
    /// The client's address (`ip:port`), or `unknown` when the server did not record it.
    pub peer: String,
    /// The `X-Actor` header, escaped and cut to 64 characters; `None` without one.
    pub actor: Option<String>,
    /// `pause`, `resume`, `throttle` or `unthrottle`.
    pub action: String,
    /// The operator named in the path, escaped and cut to 128 characters.
    pub operator: String,
    /// `accepted`, or why it was refused: `disabled`, `unauthenticated`, `forbidden`,
    /// `bad_request`, `payload_too_large`, `unknown_operator` or `not_a_source`.
    pub outcome: String,
    /// The answer's status code.
    pub status: u16,
    /// Whether it changed anything (pausing a paused source, or setting the limit a source
    /// has already, changes nothing).
    pub changed: bool,
    /// In words: what was done, or why not.
    pub reason: String,
}

/// Marks a response whose control attempt was recorded, so the oversized-body layer does not
/// record it twice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded;

/// Who sent a request, as recorded: the peer address and the escaped `X-Actor` claim.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) peer: String,
    pub(crate) claimed: Option<String>,
}

impl Actor {
    pub(crate) fn of(peer: Option<&ConnectInfo<SocketAddr>>, headers: &HeaderMap) -> Self {
        let peer = peer.map_or_else(|| "unknown".to_owned(), |ConnectInfo(a)| a.to_string());
        let claimed = headers
            .get(ACTOR_HEADER)
            .map(|v| escape(&String::from_utf8_lossy(v.as_bytes()), MAX_ACTOR))
            .filter(|v| !v.is_empty());
        Actor { peer, claimed }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.claimed {
            Some(claimed) => write!(f, "{} ({claimed})", self.peer),
            None => f.write_str(&self.peer),
        }
    }
}

/// `text`, cut to `max` characters, with every character but ASCII letters, digits and
/// `-_.:@/+` escaped (`\x20` for a space, `\x22` for a quote, `\u{e9}` for `é`).
pub(crate) fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars().take(max) {
        if c.is_ascii_alphanumeric() || "-_.:@/+".contains(c) {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

/// What one attempt came to, for [`record`].
pub(crate) struct Attempt<'a> {
    pub(crate) action: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) actor: &'a Actor,
    pub(crate) outcome: &'a str,
    pub(crate) status: StatusCode,
    pub(crate) changed: bool,
    pub(crate) reason: &'a str,
}

/// Logs the attempt at WARN under [`TARGET`] and hands it to the audit hook.
pub(crate) fn record(plane: &ControlPlane, attempt: &Attempt<'_>) {
    let record = ControlRecord {
        time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        peer: attempt.actor.peer.clone(),
        actor: attempt.actor.claimed.clone(),
        action: attempt.action.to_owned(),
        operator: escape(attempt.operator, MAX_OPERATOR),
        outcome: attempt.outcome.to_owned(),
        status: attempt.status.as_u16(),
        changed: attempt.changed,
        reason: attempt.reason.to_owned(),
    };
    tracing::warn!(
        target: TARGET,
        event = %record.action,
        operator = %record.operator,
        outcome = %record.outcome,
        actor = %attempt.actor,
        status = record.status,
        changed = record.changed,
        reason = %record.reason,
        "control: {} {}",
        record.action,
        if record.outcome == "accepted" { "accepted" } else { "refused" },
    );
    if let Some(hook) = &plane.audit {
        hook(&record);
    }
}

/// The action of a control request, `POST /operators/{name}/{pause|resume|throttle}` or
/// `DELETE /operators/{name}/throttle`, with the name as sent.
fn control_path<'a>(method: &Method, path: &'a str) -> Option<(&'a str, &'static str)> {
    let rest = path.strip_prefix("/operators/")?;
    let (name, action) = rest.rsplit_once('/')?;
    let action = match (method, action) {
        (&Method::POST, "pause") => "pause",
        (&Method::POST, "resume") => "resume",
        (&Method::POST, "throttle") => "throttle",
        (&Method::DELETE, "throttle") => "unthrottle",
        _ => return None,
    };
    (!name.is_empty() && !name.contains('/')).then_some((name, action))
}

/// Records the control attempts that were refused before their handler ran: a body over the
/// limit (413). Sits outside the body limit.
pub(crate) async fn oversized(
    State(plane): State<ControlPlane>,
    request: Request,
    next: Next,
) -> Response {
    let attempt = control_path(request.method(), request.uri().path()).map(|(name, action)| {
        let actor = Actor::of(
            request.extensions().get::<ConnectInfo<SocketAddr>>(),
            request.headers(),
        );
        (name.to_owned(), action, actor)
    });
    let response = next.run(request).await;
    if let Some((operator, action, actor)) = attempt {
        let refused = response.status() == StatusCode::PAYLOAD_TOO_LARGE;
        if refused && response.extensions().get::<Recorded>().is_none() {
            let reason = format!(
                "request body is larger than the limit of {} bytes",
                plane.body_limit
            );
            record(
                &plane,
                &Attempt {
                    action,
                    operator: &operator,
                    actor: &actor,
                    outcome: "payload_too_large",
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    changed: false,
                    reason: &reason,
                },
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_cannot_forge_fields_or_lines() {
        assert_eq!(escape("alice", 64), "alice");
        assert_eq!(
            escape("a\" outcome=accepted\nb", 64),
            "a\\x22\\x20outcome\\x3daccepted\\x0ab"
        );
        assert_eq!(escape("é\u{1b}[31m", 64), "\\u{e9}\\x1b\\x5b31m");
        assert_eq!(escape("abcdef", 3), "abc");
    }

    #[test]
    fn control_paths_are_recognised() {
        let post = |path| control_path(&Method::POST, path);
        assert_eq!(post("/operators/radar/pause"), Some(("radar", "pause")));
        assert_eq!(post("/operators/radar/resume"), Some(("radar", "resume")));
        assert_eq!(
            post("/operators/radar/throttle"),
            Some(("radar", "throttle"))
        );
        assert_eq!(
            control_path(&Method::DELETE, "/operators/radar/throttle"),
            Some(("radar", "unthrottle"))
        );
        assert_eq!(
            control_path(&Method::DELETE, "/operators/radar/pause"),
            None
        );
        assert_eq!(control_path(&Method::GET, "/operators/radar/pause"), None);
        assert_eq!(post("/operators/radar/stop"), None);
        assert_eq!(post("/operators//pause"), None);
        assert_eq!(post("/health"), None);
    }
}
