//! The graph's event bus: every supervisor decision and every control action as a structured
//! [`Event`], for code that wants to watch a graph without parsing its logs.
//!
//! Each event is logged (as before) **and** published on the graph's [`EventBus`], which keeps
//!
//! * a bounded ring of the most recent events, each with an id that increases by one per
//!   event, so that a subscriber that reconnects can resume after the last id it saw
//!   ([`EventBus::subscribe_after`]);
//! * a bounded live channel (`tokio::sync::broadcast`): a subscriber that falls more than its
//!   capacity behind is told how many events it missed ([`Received::Lagged`]) and goes on with
//!   the oldest event still held. Nothing is ever buffered without bound, and a slow subscriber
//!   never slows the supervisor: publishing does not wait.
//!
//! Take the bus from [`GraphMonitor::events`](crate::monitor::GraphMonitor::events). The HTTP
//! control plane serves it as Server-Sent Events on `GET /events`.
//!
//! # Examples
//!
//! ```
//! use sda_orchestrator::events::{EventKind, Received};
//! use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext, SupervisorPolicy};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut graph = OperatorGraph::new();
//! let src = graph.add_source("ticks", RestartPolicy::Never, |mut ctx| async move {
//!     ctx.output.send(1_u32).await?;
//!     Ok(())
//! });
//! let out = graph.add_sink("sink", RestartPolicy::Never, |mut ctx: SinkContext<u32>| async move {
//!     while ctx.input.recv().await.is_some() {}
//!     Ok(())
//! });
//! graph.connect(&src, &out);
//! let built = graph.build()?;
//! let mut events = built.monitor().events().subscribe();
//! assert!(built.run(SupervisorPolicy::default()).await.is_clean());
//!
//! let mut kinds = Vec::new();
//! while let Some(Received::Event(event)) = events.try_recv() {
//!     kinds.push(event.event);
//! }
//! assert_eq!(kinds.first(), Some(&EventKind::Spawn));
//! assert_eq!(kinds.last(), Some(&EventKind::ShutdownComplete));
//! # Ok::<(), sda_orchestrator::BuildError>(())
//! # }).unwrap();
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// How many recent events a graph's bus keeps for subscribers that resume, unless
/// [`OperatorGraph::with_event_buffers`](crate::OperatorGraph::with_event_buffers) says otherwise.
pub const DEFAULT_RECENT_EVENTS: usize = 1024;

/// How far a live subscriber may fall behind before it misses events, unless
/// [`OperatorGraph::with_event_buffers`](crate::OperatorGraph::with_event_buffers) says otherwise.
pub const DEFAULT_LIVE_EVENTS: usize = 256;

/// What happened. Serialized in `snake_case`, the same names as the `event` field of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An operator (or a router's feed) was started for the first time.
    Spawn,
    /// An operator failed and will be started again after a backoff.
    Restart,
    /// An operator returned `Ok(())`: finished for good.
    CleanExit,
    /// An operator panicked; panics are never restarted.
    Panicked,
    /// An operator failed with its restart budget spent.
    BudgetExhausted,
    /// The supervisor is ending the graph after a panic or a spent budget.
    Escalate,
    /// An operator was aborted (at the drain deadline, during an escalation, or from outside).
    Aborted,
    /// A shutdown was requested; the graph drains.
    ShutdownStarted,
    /// The supervisor has finished: the graph has ended.
    ShutdownComplete,
    /// A source was paused.
    Paused,
    /// A source was resumed.
    Resumed,
    /// A checkpoint started: its barriers are on their way.
    CheckpointStarted,
    /// A checkpoint completed: written, and the sources told.
    CheckpointCompleted,
    /// A checkpoint was abandoned (timed out, declined, interrupted, or not written); the
    /// next one starts on schedule.
    CheckpointAbandoned,
    /// An operator has had input queued for its `stall_after` without making progress (see
    /// [`OnStall`](crate::OnStall)); reported once per stall.
    Stalled,
    /// A source's sends were limited to a rate
    /// ([`GraphControls::throttle`](crate::control::GraphControls::throttle)), or its limit was
    /// changed.
    Throttled,
    /// A source's rate limit was lifted.
    Unthrottled,
}

impl EventKind {
    /// The name as serialized: `spawn`, `restart`, `clean_exit`, `panicked`,
    /// `budget_exhausted`, `escalate`, `aborted`, `shutdown_started`, `shutdown_complete`,
    /// `paused`, `resumed`, `stalled`, `throttled`, `unthrottled`, `checkpoint_started`,
    /// `checkpoint_completed` or `checkpoint_abandoned`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Spawn => "spawn",
            EventKind::Restart => "restart",
            EventKind::CleanExit => "clean_exit",
            EventKind::Panicked => "panicked",
            EventKind::BudgetExhausted => "budget_exhausted",
            EventKind::Escalate => "escalate",
            EventKind::Aborted => "aborted",
            EventKind::ShutdownStarted => "shutdown_started",
            EventKind::ShutdownComplete => "shutdown_complete",
            EventKind::Paused => "paused",
            EventKind::Resumed => "resumed",
            EventKind::CheckpointStarted => "checkpoint_started",
            EventKind::CheckpointCompleted => "checkpoint_completed",
            EventKind::CheckpointAbandoned => "checkpoint_abandoned",
            EventKind::Stalled => "stalled",
            EventKind::Throttled => "throttled",
            EventKind::Unthrottled => "unthrottled",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious an event is: the level it is logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Routine: a start, a clean exit, a pause, a throttle.
    Info,
    /// Worth a look: a restart, an abort, a stall.
    Warn,
    /// Something failed for good: a panic, a spent budget, an escalation.
    Error,
}

/// One supervisor decision or control action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Event {
    /// Its place on the bus: 1 for the graph's first event, one more for each after it.
    pub id: u64,
    /// When it was published, in milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
    /// What happened.
    pub event: EventKind,
    /// How serious it is.
    pub severity: Severity,
    /// The operator it is about (`router/feed` for a router's feed); `None` for events about
    /// the whole graph.
    pub operator: Option<String>,
    /// The operator's incarnation (restarts before it), for per-operator supervisor events.
    pub attempt: Option<u64>,
    /// Restarts inside the restart policy's window, for per-operator supervisor events.
    pub restarts_in_window: Option<u64>,
    /// Why, in words.
    pub reason: String,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The next event.
    Event(Arc<Event>),
    /// The subscriber fell behind (or resumed after events that left the ring) and missed
    /// `skipped` events; the next [`Received::Event`] is the oldest still held.
    Lagged {
        /// How many events were missed.
        skipped: u64,
    },
}

/// A graph's event bus: a bounded ring of recent events and a bounded live channel. Cheap to
/// clone; every clone is the same bus. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Event>>,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    events: VecDeque<Arc<Event>>,
    capacity: usize,
}

/// An event before the bus numbers and stamps it.
#[derive(Debug, Clone)]
pub(crate) struct Draft<'a> {
    pub(crate) event: EventKind,
    pub(crate) severity: Severity,
    pub(crate) operator: Option<&'a str>,
    pub(crate) attempt: Option<u64>,
    pub(crate) restarts_in_window: Option<u64>,
    pub(crate) reason: &'a str,
}

impl Default for EventBus {
    /// A bus of [`DEFAULT_RECENT_EVENTS`] and [`DEFAULT_LIVE_EVENTS`].
    fn default() -> Self {
        EventBus::new(DEFAULT_RECENT_EVENTS, DEFAULT_LIVE_EVENTS)
    }
}

impl EventBus {
    /// A bus that keeps the `recent` latest events for resuming subscribers, and lets a live
    /// subscriber fall `live` events behind before it misses some. Both are at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::events::EventBus;
    ///
    /// let bus = EventBus::new(16, 8);
    /// assert_eq!(bus.last_id(), 0);
    /// assert!(bus.recent().is_empty());
    /// ```
    pub fn new(recent: usize, live: usize) -> Self {
        let (live, _) = broadcast::channel(live.max(1));
        EventBus {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    next_id: 1,
                    events: VecDeque::with_capacity(recent.clamp(1, 1024)),
                    capacity: recent.max(1),
                }),
                live,
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers, stamps, keeps and sends one event; returns its id. Never waits.
    pub(crate) fn publish(&self, draft: Draft<'_>) -> u64 {
        let time_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut ring = self.ring();
        let id = ring.next_id;
        ring.next_id += 1;
        let event = Arc::new(Event {
            id,
            time_unix_ms,
            event: draft.event,
            severity: draft.severity,
            operator: draft.operator.map(str::to_owned),
            attempt: draft.attempt,
            restarts_in_window: draft.restarts_in_window,
            reason: draft.reason.to_owned(),
        });
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(Arc::clone(&event));
        // Sent under the ring's lock, so that the live order is the id order and a subscriber
        // created under the same lock sees every later event exactly once. No receiver is fine.
        let _ = self.inner.live.send(event);
        id
    }

    /// The id of the latest event published, 0 before the first.
    pub fn last_id(&self) -> u64 {
        self.ring().next_id - 1
    }

    /// The events the ring holds, oldest first.
    pub fn recent(&self) -> Vec<Arc<Event>> {
        self.ring().events.iter().cloned().collect()
    }

    /// A subscription to the events published from now on.
    pub fn subscribe(&self) -> EventSubscription {
        let ring = self.ring();
        EventSubscription {
            backlog: VecDeque::new(),
            live: self.inner.live.subscribe(),
            last: ring.next_id - 1,
        }
    }

    /// A subscription that first replays the held events after `last_id` (the id of the last
    /// event the subscriber saw), then goes on live, with no event twice and none missed in
    /// between. When events after `last_id` have already left the ring, it starts with a
    /// [`Received::Lagged`] counting them. An id the bus has not reached yet (from an earlier
    /// run of the process) replays the whole ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::events::Received;
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
    ///
    /// let mut graph = OperatorGraph::new().with_event_buffers(2, 8);
    /// let src = graph.add_source("ticks", RestartPolicy::Never, |_ctx| async { Ok(()) });
    /// let out = graph.add_sink("sink", RestartPolicy::Never, |_ctx: SinkContext<u8>| async { Ok(()) });
    /// graph.connect(&src, &out);
    /// let built = graph.build()?;
    /// let controls = built.controls();
    /// controls.pause("ticks")?; // event 1
    /// controls.resume("ticks")?; // event 2
    /// controls.pause("ticks")?; // event 3: the ring of 2 no longer holds event 1
    ///
    /// let mut resumed = built.monitor().events().subscribe_after(0);
    /// assert_eq!(resumed.try_recv(), Some(Received::Lagged { skipped: 1 }));
    /// assert!(matches!(resumed.try_recv(), Some(Received::Event(e)) if e.id == 2));
    /// assert!(matches!(resumed.try_recv(), Some(Received::Event(e)) if e.id == 3));
    /// assert_eq!(resumed.try_recv(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe_after(&self, last_id: u64) -> EventSubscription {
        let ring = self.ring();
        let live = self.inner.live.subscribe();
        let latest = ring.next_id - 1;
        let after = if last_id > latest { 0 } else { last_id };
        let mut backlog = VecDeque::new();
        let oldest = ring.events.front().map_or(ring.next_id, |e| e.id);
        if after + 1 < oldest {
            backlog.push_back(Received::Lagged {
                skipped: oldest - after - 1,
            });
        }
        backlog.extend(
            ring.events
                .iter()
                .filter(|e| e.id > after)
                .map(|e| Received::Event(Arc::clone(e))),
        );
        EventSubscription {
            backlog,
            live,
            last: latest,
        }
    }
}

/// A subscriber's view of an [`EventBus`]: the replayed events first (for
/// [`EventBus::subscribe_after`]), then the live ones.
#[derive(Debug)]
pub struct EventSubscription {
    backlog: VecDeque<Received>,
    live: broadcast::Receiver<Arc<Event>>,
    /// The latest id already delivered (or replayed); live events up to it are skipped.
    last: u64,
}

impl EventSubscription {
    /// The next event, waiting for one to be published; `None` once the bus is gone (the graph
    /// and every handle on it dropped).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while waiting, no event is lost; the next call returns it.
    pub async fn recv(&mut self) -> Option<Received> {
        if let Some(next) = self.backlog.pop_front() {
            return Some(next);
        }
        loop {
            match self.live.recv().await {
                Ok(event) if event.id <= self.last => continue,
                Ok(event) => {
                    self.last = event.id;
                    return Some(Received::Event(event));
                }
                Err(RecvError::Lagged(skipped)) => return Some(Received::Lagged { skipped }),
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready, without waiting; `None` when none is (or the bus is
    /// gone).
    pub fn try_recv(&mut self) -> Option<Received> {
        if let Some(next) = self.backlog.pop_front() {
            return Some(next);
        }
        loop {
            match self.live.try_recv() {
                Ok(event) if event.id <= self.last => continue,
                Ok(event) => {
                    self.last = event.id;
                    return Some(Received::Event(event));
                }
                Err(TryRecvError::Lagged(skipped)) => return Some(Received::Lagged { skipped }),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(reason: &str) -> Draft<'_> {
        Draft {
            event: EventKind::Paused,
            severity: Severity::Info,
            operator: Some("radar"),
            attempt: None,
            restarts_in_window: None,
            reason,
        }
    }

    fn ids(subscription: &mut EventSubscription) -> Vec<Result<u64, u64>> {
        std::iter::from_fn(|| subscription.try_recv())
            .map(|r| match r {
                Received::Event(e) => Ok(e.id),
                Received::Lagged { skipped } => Err(skipped),
            })
            .collect()
    }

    #[test]
    fn ids_increase_by_one_and_the_ring_keeps_the_latest() {
        let bus = EventBus::new(3, 16);
        for _ in 0..5 {
            bus.publish(draft("x"));
        }
        assert_eq!(bus.last_id(), 5);
        let held: Vec<u64> = bus.recent().iter().map(|e| e.id).collect();
        assert_eq!(held, [3, 4, 5]);
    }

    #[test]
    fn a_live_subscriber_that_falls_behind_is_told_how_many_it_missed() {
        let bus = EventBus::new(100, 4);
        let mut live = bus.subscribe();
        for _ in 0..10 {
            bus.publish(draft("x"));
        }
        assert_eq!(ids(&mut live), [Err(6), Ok(7), Ok(8), Ok(9), Ok(10)]);
    }

    #[test]
    fn resuming_replays_after_the_last_id_then_goes_live_without_repeats() {
        let bus = EventBus::new(100, 16);
        for _ in 0..4 {
            bus.publish(draft("x"));
        }
        let mut resumed = bus.subscribe_after(2);
        bus.publish(draft("y"));
        assert_eq!(ids(&mut resumed), [Ok(3), Ok(4), Ok(5)]);
        // An id from the future (an earlier run) replays the ring.
        let mut stale = bus.subscribe_after(99);
        assert_eq!(ids(&mut stale), [Ok(1), Ok(2), Ok(3), Ok(4), Ok(5)]);
        // Resuming at the latest id replays nothing.
        let mut current = bus.subscribe_after(5);
        assert_eq!(ids(&mut current), []);
    }

    #[test]
    fn resuming_after_events_that_left_the_ring_reports_them_missed() {
        let bus = EventBus::new(2, 16);
        for _ in 0..5 {
            bus.publish(draft("x"));
        }
        let mut resumed = bus.subscribe_after(1);
        assert_eq!(ids(&mut resumed), [Err(2), Ok(4), Ok(5)]);
    }

    #[tokio::test]
    async fn recv_waits_for_the_next_event() {
        let bus = EventBus::new(4, 4);
        let mut live = bus.subscribe();
        let waiter = tokio::spawn(async move { live.recv().await });
        tokio::task::yield_now().await;
        bus.publish(draft("late"));
        let Some(Received::Event(event)) = waiter.await.unwrap() else {
            panic!("expected an event");
        };
        assert_eq!(event.reason, "late");
        assert_eq!(event.operator.as_deref(), Some("radar"));
    }
}
