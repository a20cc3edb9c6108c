//! The stall watchdog: on a tick of its own, the supervisor reads every operator's progress from
//! the edge counters the monitor already keeps, reports an operator that has had input queued
//! without progress for its `stall_after`, and aborts it for a restart when its policy says so.
//!
//! An operator is *making progress* when the items taken from its inputs plus the items put on
//! its outputs change between two looks. Its stall clock runs only while all of these hold: it
//! runs (not pending, restarting or finished), items wait on its input, and none of its outputs
//! (lossy broadcast edges aside) holds items its consumer has not taken: an operator blocked on
//! a full output waits on its downstream, and if that one is stuck, that one is reported. Any
//! other moment restarts the clock, and progress also ends a report.

use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval};

use super::Restarter;
use super::log::decision;
use super::stall::StallPolicy;
use crate::monitor::{GraphMonitor, OperatorState};
use crate::{BuiltGraph, OnStall, SupervisorPolicy};

/// The longest time between two looks.
const MAX_PERIOD: Duration = Duration::from_secs(1);
/// The shortest time between two looks.
const MIN_PERIOD: Duration = Duration::from_millis(1);

/// The watchdog's state for every vertex, by index, and its tick.
pub(super) struct Watchdog {
    watches: Vec<Watch>,
    /// `None` when it is off, or no vertex has an input to stall on.
    ticker: Option<Interval>,
}

/// One vertex under watch.
struct Watch {
    policy: StallPolicy,
    /// The progress count seen at the last look.
    last: u64,
    /// When the stall clock started: the last progress, or the last look at which it was not
    /// running, had nothing queued or waited on its downstream.
    since: Instant,
    /// Whether the current stall was reported.
    reported: bool,
    /// The running incarnation, to abort.
    task: Option<AbortHandle>,
    /// Why the watchdog aborted the running incarnation, if it did.
    aborted: Option<String>,
}

impl Watchdog {
    /// A watchdog over `graph`'s vertices, looking every quarter of the shortest `stall_after`
    /// of a vertex with inputs (between 1 ms and 1 s).
    pub(super) fn new(graph: &BuiltGraph, policy: &SupervisorPolicy) -> Self {
        let now = Instant::now();
        let watches: Vec<Watch> = graph
            .vertices
            .iter()
            .map(|v| Watch {
                policy: v.stall,
                last: 0,
                since: now,
                reported: false,
                task: None,
                aborted: None,
            })
            .collect();
        let shortest = watches
            .iter()
            .enumerate()
            .filter(|(i, _)| graph.monitor.progress(*i).is_some_and(|p| p.has_inputs))
            .map(|(_, w)| w.policy.after)
            .min();
        let ticker = shortest.filter(|_| policy.stall_watchdog()).map(|after| {
            let mut ticker = interval((after / 4).clamp(MIN_PERIOD, MAX_PERIOD));
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            ticker
        });
        Watchdog { watches, ticker }
    }

    /// Completes at the next look; never when the watchdog is off. Cancel safe.
    pub(super) async fn tick(&mut self) {
        match &mut self.ticker {
            Some(ticker) => {
                ticker.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Notes that `index` started an incarnation, `task`: its stall clock starts over.
    pub(super) fn started(&mut self, index: usize, task: AbortHandle) {
        if let Some(watch) = self.watches.get_mut(index) {
            watch.task = Some(task);
            watch.since = Instant::now();
            watch.aborted = None;
        }
    }

    /// Notes that the incarnation of `index` ended, and ends its report; returns why the
    /// watchdog aborted it, if it did.
    pub(super) fn exited(&mut self, index: usize, monitor: &GraphMonitor) -> Option<String> {
        let watch = self.watches.get_mut(index)?;
        watch.task = None;
        if watch.reported {
            watch.reported = false;
            monitor.set_stalled(index, false);
        }
        watch.aborted.take()
    }

    /// Looks at every vertex: reports the newly stalled ones (and aborts those whose policy is
    /// to restart), and ends the reports of those that progressed.
    pub(super) fn check(&mut self, graph: &BuiltGraph, restarters: &[Restarter]) {
        let now = Instant::now();
        let monitor = &graph.monitor;
        for (index, watch) in self.watches.iter_mut().enumerate() {
            let Some(progress) = monitor.progress(index) else {
                continue;
            };
            if !progress.has_inputs {
                continue;
            }
            let moved = progress.count != watch.last;
            watch.last = progress.count;
            if moved
                || progress.state != OperatorState::Running
                || progress.queued == 0
                || progress.outputs_waiting
            {
                watch.since = now;
                if watch.reported {
                    watch.reported = false;
                    monitor.set_stalled(index, false);
                }
                continue;
            }
            let idle = now.saturating_duration_since(watch.since);
            if watch.reported || idle < watch.policy.after {
                continue;
            }
            watch.reported = true;
            monitor.set_stalled(index, true);
            let name = graph.vertices.get(index).map_or("?", |v| &v.name);
            let attempt = restarters.get(index).map_or(0, Restarter::attempt);
            let restart = watch.policy.on_stall == OnStall::Restart && watch.task.is_some();
            let reason = format!(
                "stalled: no progress for {:.1} s with {} item(s) queued on its input",
                idle.as_secs_f64(),
                progress.queued
            );
            let logged = if restart {
                format!("{reason}; aborting it for a restart")
            } else {
                reason.clone()
            };
            decision!(monitor.events(), warn, Stalled, name, attempt, 0, logged);
            if restart && let Some(task) = &watch.task {
                task.abort();
                watch.aborted = Some(reason);
            }
        }
    }
}
