//! The supervisor loop: a `JoinSet` of incarnations, and one decision per exit.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep, sleep_until};

use super::log::{decision, graph_event};
use super::watchdog::Watchdog;
use super::{Restart, Restarter};
use super::{TaskExit, panic_message};
use crate::BuiltGraph;
use crate::context::Meta;
use crate::graph::Incarnation;
use crate::monitor::{GraphMonitor, OperatorState};
use crate::{SupervisorEvent, SupervisorPolicy};

struct Supervisor {
    graph: BuiltGraph,
    /// Each vertex's restart state, by vertex index; it lives as long as the supervisor.
    vertices: Vec<Restarter>,
    running: JoinSet<anyhow::Result<()>>,
    task_vertex: HashMap<Id, usize>,
    policy: Arc<SupervisorPolicy>,
    /// The checkpoint coordinator, when the graph takes checkpoints; stopped when dropped.
    checkpoints: Option<crate::checkpoint::Running>,
    /// Reports, and restarts when told to, operators that stall (`watchdog.rs`).
    watchdog: Watchdog,
}

/// Runs `graph` until it ends; see [`BuiltGraph::run`].
pub(crate) async fn supervise(mut graph: BuiltGraph, policy: SupervisorPolicy) -> SupervisorEvent {
    let checkpoints = graph
        .checkpoints
        .take()
        .map(|c| c.start(graph.monitor.clone(), graph.shutdown.clone()));
    let vertices = graph
        .vertices
        .iter()
        .map(|v| Restarter::new(v.restart, &policy))
        .collect();
    let watchdog = Watchdog::new(&graph, &policy);
    let mut supervisor = Supervisor {
        graph,
        vertices,
        running: JoinSet::new(),
        task_vertex: HashMap::new(),
        policy: Arc::new(policy),
        checkpoints,
        watchdog,
    };
    supervisor.run().await
}

impl Supervisor {
    fn name(&self, index: usize) -> &str {
        self.graph.vertices.get(index).map_or("?", |v| &v.name)
    }

    fn monitor(&self) -> &GraphMonitor {
        &self.graph.monitor
    }

    async fn run(&mut self) -> SupervisorEvent {
        metrics::gauge!(
            crate::monitor::metric_names::TOPOLOGY_INFO,
            "fingerprint" => self.graph.fingerprint().to_hex()
        )
        .set(1.0);
        let order = self.graph.order.clone();
        for index in order {
            decision!(
                self.monitor().events(),
                info,
                Spawn,
                self.name(index),
                0,
                0,
                "initial start"
            );
            if let Err(event) = self.start(index, Duration::ZERO) {
                return self.escalate(event).await;
            }
        }

        let shutdown = self.graph.shutdown.clone();
        let mut deadline: Option<Instant> = None;
        let mut ticker = interval(self.policy.metrics_interval());
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            if self.running.is_empty() {
                self.monitor().publish_metrics();
                graph_event!(
                    self.monitor().events(),
                    info,
                    ShutdownComplete,
                    None,
                    "every vertex finished",
                    aborted = ""
                );
                return SupervisorEvent::CleanShutdown;
            }
            tokio::select! {
                biased;
                joined = self.running.join_next_with_id() => {
                    let Some(joined) = joined else { continue };
                    if let Err(event) = self.on_exit(joined) {
                        return self.escalate(event).await;
                    }
                }
                () = shutdown.cancelled(), if deadline.is_none() => {
                    let drain = self.policy.drain_deadline();
                    deadline = Some(Instant::now() + drain);
                    graph_event!(self.monitor().events(), info, ShutdownStarted, None, "shutdown requested", drain_deadline_seconds = drain.as_secs_f64());
                }
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return self.abort_stragglers().await;
                }
                _ = ticker.tick() => self.monitor().publish_metrics(),
                () = self.watchdog.tick() => self.watchdog.check(&self.graph, &self.vertices),
            }
        }
    }

    /// Starts the next incarnation of `index` after `delay`.
    fn start(&mut self, index: usize, delay: Duration) -> Result<(), SupervisorEvent> {
        let meta = Meta {
            name: self.graph.vertices[index].name.clone(),
            shutdown: self.graph.shutdown.clone(),
            attempt: self.vertices[index].start(delay),
            pause: self.graph.vertices[index].pause.clone(),
            policy: Arc::clone(&self.policy),
            events: self.graph.monitor.events().clone(),
            cell: Arc::clone(&self.graph.vertices[index].cell),
        };
        let runnable = &mut self.graph.vertices[index].runnable;
        // The factory is user code running on the supervisor's own task: a panic in it must
        // become an event, not take the supervisor down.
        let made = std::panic::catch_unwind(AssertUnwindSafe(|| runnable.incarnate(meta)));
        let incarnation: Incarnation = match made {
            Ok(Some(incarnation)) => incarnation,
            Ok(None) => {
                self.monitor().record_failure(
                    index,
                    "cannot restart: its input was moved out of the operator",
                );
                self.monitor().set_state(index, OperatorState::Failed);
                return Err(SupervisorEvent::InputNotReturned {
                    operator: self.name(index).into(),
                });
            }
            Err(payload) => {
                let message = panic_message(payload);
                decision!(
                    self.monitor().events(),
                    error,
                    Panicked,
                    self.name(index),
                    self.vertices[index].attempt(),
                    0,
                    message
                );
                self.monitor().record_failure(index, &message);
                self.monitor().set_state(index, OperatorState::Failed);
                return Err(SupervisorEvent::Panicked {
                    operator: self.name(index).into(),
                    message,
                });
            }
        };
        let monitor = self.graph.monitor.clone();
        let task = self.running.spawn(async move {
            if !delay.is_zero() {
                sleep(delay).await;
            }
            monitor.set_state(index, OperatorState::Running);
            incarnation.await
        });
        self.task_vertex.insert(task.id(), index);
        self.watchdog.started(index, task);
        Ok(())
    }

    /// Decides what an exit means. `Err` carries the event that ends the graph.
    fn on_exit(
        &mut self,
        joined: Result<(Id, anyhow::Result<()>), JoinError>,
    ) -> Result<(), SupervisorEvent> {
        let (id, exit) = match joined {
            Ok((id, result)) => (id, TaskExit::from_join(Ok(result))),
            Err(error) => (error.id(), TaskExit::from_join(Err(error))),
        };
        let Some(index) = self.task_vertex.remove(&id) else {
            return Ok(());
        };
        let stalled = self.watchdog.exited(index, &self.graph.monitor);
        let attempt = self.vertices[index].attempt();
        match exit {
            TaskExit::Ok => {
                self.monitor().set_state(index, OperatorState::Finished);
                if let Some(checkpoints) = &self.checkpoints {
                    checkpoints.vertex_finished(index);
                }
                self.graph.vertices[index].runnable.settle_held(true);
                match self.release(index) {
                    0 => decision!(
                        self.monitor().events(),
                        info,
                        CleanExit,
                        self.name(index),
                        attempt,
                        0,
                        "returned ok"
                    ),
                    dropped => {
                        let reason = format!(
                            "returned ok with {dropped} item(s) still queued on its input; they are dropped"
                        );
                        decision!(
                            self.monitor().events(),
                            warn,
                            CleanExit,
                            self.name(index),
                            attempt,
                            0,
                            reason
                        );
                    }
                }
                Ok(())
            }
            TaskExit::Errored(error) => self.on_error(index, error),
            // The watchdog aborted it: a stall restarts like an error, under the same budget.
            TaskExit::Aborted if let Some(reason) = stalled => {
                self.on_error(index, anyhow::Error::msg(reason))
            }
            TaskExit::Panicked(message) => {
                self.graph.vertices[index].runnable.settle_held(false);
                decision!(
                    self.monitor().events(),
                    error,
                    Panicked,
                    self.name(index),
                    attempt,
                    0,
                    message
                );
                self.monitor().record_failure(index, &message);
                self.monitor().set_state(index, OperatorState::Failed);
                Err(SupervisorEvent::Panicked {
                    operator: self.name(index).into(),
                    message,
                })
            }
            TaskExit::Aborted => {
                self.graph.vertices[index].runnable.settle_held(false);
                decision!(
                    self.monitor().events(),
                    warn,
                    Aborted,
                    self.name(index),
                    attempt,
                    0,
                    "aborted from outside the supervisor"
                );
                self.monitor().set_state(index, OperatorState::Aborted);
                self.release(index);
                Ok(())
            }
        }
    }

    fn on_error(&mut self, index: usize, error: anyhow::Error) -> Result<(), SupervisorEvent> {
        let lost = self.graph.vertices[index].runnable.settle_held(false);
        let reason = if lost == 0 {
            format!("{error:#}")
        } else {
            format!("{error:#} ({lost} item(s) it had taken and not finished are dropped)")
        };
        match self.vertices[index].on_error(Instant::now()) {
            Restart::After {
                delay,
                attempt,
                restarts_in_window,
            } => {
                decision!(
                    self.monitor().events(),
                    warn,
                    Restart,
                    self.name(index),
                    attempt,
                    restarts_in_window,
                    reason
                );
                self.monitor().record_restart(index, &error);
                self.monitor().set_state(index, OperatorState::Restarting);
                self.start(index, delay)
            }
            Restart::Exhausted { restarts_in_window } => {
                decision!(
                    self.monitor().events(),
                    error,
                    BudgetExhausted,
                    self.name(index),
                    self.vertices[index].attempt(),
                    restarts_in_window,
                    reason
                );
                self.monitor().record_error(index, &error);
                self.monitor().set_state(index, OperatorState::Failed);
                Err(SupervisorEvent::BudgetExhausted {
                    operator: self.name(index).into(),
                    restarts_in_window,
                    last_error: reason,
                })
            }
        }
    }

    /// Drops a finished vertex's ends so its downstream sees the close, and accounts for any
    /// items still queued on its input; returns how many there were, for the caller's event.
    fn release(&mut self, index: usize) -> u64 {
        self.graph.vertices[index].runnable.release()
    }

    /// Ends the graph after a panic or a spent budget: sources are told to stop and every
    /// other incarnation is aborted at once. Items still queued are counted as dropped.
    async fn escalate(&mut self, event: SupervisorEvent) -> SupervisorEvent {
        let operator = event.operator().unwrap_or("?").to_owned();
        graph_event!(self.monitor().events(), error, Escalate, Some(operator.as_str()), event.to_string(), operator = %operator);
        self.graph.shutdown.cancel();
        let aborted = self.abort_all().await;
        let dropped: u64 = (0..self.graph.vertices.len())
            .map(|i| self.release(i))
            .sum();
        graph_event!(self.monitor().events(), info, ShutdownComplete, None, event.to_string(), aborted = %aborted.join(","), dropped_items = dropped);
        event
    }

    /// The drain deadline passed: abort what still runs and name it.
    async fn abort_stragglers(&mut self) -> SupervisorEvent {
        let aborted = self.abort_all().await;
        let dropped: u64 = (0..self.graph.vertices.len())
            .map(|i| self.release(i))
            .sum();
        graph_event!(self.monitor().events(), warn, ShutdownComplete, None, "drain deadline exceeded", aborted = %aborted.join(","), dropped_items = dropped);
        SupervisorEvent::DeadlineExceeded { aborted }
    }

    /// Aborts every running incarnation and waits for each to end; returns the names of those
    /// that were still running, in topological order.
    async fn abort_all(&mut self) -> Vec<String> {
        let mut still_running: Vec<usize> = self.task_vertex.values().copied().collect();
        let position = |v: &usize| self.graph.order.iter().position(|o| o == v);
        still_running.sort_by_key(position);
        self.running.abort_all();
        while let Some(joined) = self.running.join_next_with_id().await {
            let id = match &joined {
                Ok((id, _)) => *id,
                Err(error) => error.id(),
            };
            let Some(index) = self.task_vertex.remove(&id) else {
                continue;
            };
            let attempt = self.vertices[index].attempt();
            // Only an incarnation that returned `Ok` finished what it held.
            let finished = matches!(joined, Ok((_, Ok(()))));
            self.graph.vertices[index].runnable.settle_held(finished);
            if joined.is_ok() {
                // It finished on its own before the abort reached it.
                decision!(
                    self.monitor().events(),
                    info,
                    CleanExit,
                    self.name(index),
                    attempt,
                    0,
                    "returned during shutdown"
                );
                self.monitor().set_state(index, OperatorState::Finished);
            } else {
                decision!(
                    self.monitor().events(),
                    warn,
                    Aborted,
                    self.name(index),
                    attempt,
                    0,
                    "graph is shutting down"
                );
                self.monitor().set_state(index, OperatorState::Aborted);
            }
        }
        still_running
            .into_iter()
            .map(|i| self.name(i).to_owned())
            .collect()
    }
}
