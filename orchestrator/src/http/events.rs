//! `GET /events`: the graph's event bus and a periodic snapshot as Server-Sent Events.
//!
//! Three event types:
//!
//! * `supervisor`: one [`Event`] (a supervisor decision or a control action), with the SSE
//!   `id` set to the event's id, so that a reconnecting client's `Last-Event-ID` resumes after
//!   it from the bus's ring;
//! * `snapshot`: every operator's state, restarts, uptime and items in/out per second, and
//!   every edge's depth, capacity, blocked-seconds rate, dropped items, event-time watermark
//!   with its lag behind the wall clock, and whether it is idle; one at once, then one per
//!   snapshot interval (no `id`);
//! * `lagged`: `{"skipped": N}`, when the client fell behind the bus's live channel (or resumed
//!   after events that left the ring) and missed `N` events.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior, interval};

use super::ControlPlane;
use super::error::{ApiError, ErrorBody};
use crate::events::{Event, EventSubscription, Received};
use crate::monitor::{GraphSnapshot, OperatorState};

/// A keep-alive comment after this long without an event, so that proxies keep the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One `snapshot` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Snapshot {
    /// When it was taken, in milliseconds since the Unix epoch.
    time_unix_ms: u64,
    /// The latest event id published when it was taken.
    last_event_id: u64,
    /// Every operator, in declaration order.
    operators: Vec<OperatorRates>,
    /// Every edge, in declaration order.
    edges: Vec<EdgeRates>,
}

/// One operator in a [`Snapshot`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OperatorRates {
    name: String,
    role: &'static str,
    state: OperatorState,
    paused: bool,
    restarts: u64,
    uptime_seconds: f64,
    /// Items taken from its incoming edges per second, since the previous snapshot.
    in_per_second: f64,
    /// Items put on its outgoing edges per second, since the previous snapshot.
    out_per_second: f64,
}

/// One edge in a [`Snapshot`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EdgeRates {
    name: String,
    from: String,
    to: String,
    kind: &'static str,
    depth: u64,
    capacity: usize,
    /// Seconds producers waited on the full edge per second, since the previous snapshot: 1.0
    /// means one producer blocked the whole time.
    blocked_seconds_per_second: f64,
    dropped: u64,
    /// The latest watermark its producer put on it, in microseconds since the Unix epoch;
    /// `null` before the first (and always, in a graph that does not use event time).
    watermark_unix_micros: Option<i64>,
    /// How far that watermark is behind the wall clock when the snapshot was taken, in seconds
    /// (negative when ahead); `null` when there is no watermark.
    watermark_lag_seconds: Option<f64>,
    /// Whether its consumer has marked it idle: left out of the consumer's watermark until it
    /// speaks again.
    idle: bool,
}

/// One `lagged` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Lagged {
    /// How many events the client missed.
    skipped: u64,
}

/// `?after=N`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct EventsQuery {
    after: Option<String>,
}

/// Streams supervisor events, snapshots and lag notices as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/events",
    tag = "observe",
    params(
        ("Last-Event-ID" = Option<u64>, Header,
         description = "Resume after this event id: the held events after it are sent first"),
        ("after" = Option<u64>, Query,
         description = "As `Last-Event-ID`, for clients that cannot set headers (`after=0` \
                        replays every held event); the header wins when both are given"),
    ),
    responses(
        (status = 200, description = "A stream of `supervisor` events (data: an Event, with \
          `id`), `snapshot` events (data: a Snapshot) and `lagged` events (data: a Lagged)",
         content_type = "text/event-stream", body = String),
        (status = 400, description = "`Last-Event-ID` or `after` is not a number", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(plane): State<ControlPlane>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let header = headers
        .get("last-event-id")
        .map(|v| (v.to_str().unwrap_or("?"), "`Last-Event-ID`"));
    let resume = match header.or(query.after.as_deref().map(|v| (v, "`after`"))) {
        None => None,
        Some((value, name)) => match value.trim().parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{name} must be an event id (a number)"),
                )
                .into_response();
            }
        },
    };
    let bus = plane.monitor.events();
    let subscription = match resume {
        Some(id) => bus.subscribe_after(id),
        None => bus.subscribe(),
    };
    Sse::new(stream(plane, subscription))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// What the stream remembers between two items.
struct Streaming {
    plane: ControlPlane,
    subscription: EventSubscription,
    ticker: tokio::time::Interval,
    previous: Option<(Instant, GraphSnapshot)>,
}

fn stream(
    plane: ControlPlane,
    subscription: EventSubscription,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let mut ticker = interval(plane.snapshot_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = Streaming {
        plane,
        subscription,
        ticker,
        previous: None,
    };
    futures::stream::unfold(state, |mut state| async move {
        let closing = state.plane.closing.clone();
        let next = tokio::select! {
            biased;
            () = closing.cancelled() => return None,
            received = state.subscription.recv() => Some(received?),
            _ = state.ticker.tick() => None,
        };
        let item = match next {
            Some(Received::Event(event)) => supervisor(&event),
            Some(Received::Lagged { skipped }) => json_event("lagged", &Lagged { skipped }),
            None => {
                let snapshot = state.snapshot();
                json_event("snapshot", &snapshot)
            }
        };
        Some((Ok(item), state))
    })
}

impl Streaming {
    fn snapshot(&mut self) -> Snapshot {
        let now = Instant::now();
        let last_event_id = self.plane.monitor.events().last_id();
        let current = self.plane.monitor.snapshot();
        let (elapsed, before) = match &self.previous {
            Some((at, before)) => (now.duration_since(*at).as_secs_f64(), Some(before)),
            None => (0.0, None),
        };
        let rate = |now: f64, then: Option<f64>| match then {
            Some(then) if elapsed > 0.0 => ((now - then) / elapsed).max(0.0),
            _ => 0.0,
        };
        let topology = &self.plane.topology;
        let operators = current
            .operators
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let old = before.and_then(|b| b.operators.get(i));
                OperatorRates {
                    name: op.name.clone(),
                    role: op.role,
                    state: op.state,
                    paused: op.paused,
                    restarts: op.restarts,
                    uptime_seconds: op.uptime_seconds,
                    in_per_second: rate(op.received as f64, old.map(|o| o.received as f64)),
                    out_per_second: rate(op.sent as f64, old.map(|o| o.sent as f64)),
                }
            })
            .collect();
        let edges = current
            .edges
            .iter()
            .enumerate()
            .map(|(i, edge)| {
                let old = before.and_then(|b| b.edges.get(i));
                let described = topology.edges.get(i);
                EdgeRates {
                    name: edge.name.clone(),
                    from: described.map_or_else(String::new, |d| d.from.clone()),
                    to: described.map_or_else(String::new, |d| d.to.clone()),
                    kind: edge.kind,
                    depth: edge.depth,
                    capacity: edge.capacity,
                    blocked_seconds_per_second: rate(
                        edge.blocked_seconds,
                        old.map(|o| o.blocked_seconds),
                    ),
                    dropped: edge.dropped,
                    watermark_unix_micros: edge.watermark_unix_micros,
                    watermark_lag_seconds: edge.watermark_lag_seconds,
                    idle: edge.idle,
                }
            })
            .collect();
        self.previous = Some((now, current));
        Snapshot {
            time_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            last_event_id,
            operators,
            edges,
        }
    }
}

fn supervisor(event: &Event) -> SseEvent {
    json_event("supervisor", event).id(event.id.to_string())
}

fn json_event(name: &str, data: &impl Serialize) -> SseEvent {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default().event(name).data(data)
}
