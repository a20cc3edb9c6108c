//! The periodic progress line.

use std::sync::Arc;
use std::time::Duration;

use sda_orchestrator::monitor::GraphMonitor;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::pipeline::Counters;

/// How progress is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// One readable line on stderr.
    Human,
    /// One `tracing` event (`event = "progress"`), formatted by the subscriber.
    Json,
    /// Nothing (tests).
    Off,
}

/// Starts the reporter; abort the handle to stop it.
pub(super) fn spawn(
    style: ProgressStyle,
    every: Duration,
    counters: Arc<Counters>,
    monitor: GraphMonitor,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if style == ProgressStyle::Off {
            return;
        }
        let started = Instant::now();
        let mut ticks = tokio::time::interval_at(started + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut last_at, mut last_received) = (started, 0);
        loop {
            let now = ticks.tick().await;
            let c = counters.snapshot();
            let dt = now.duration_since(last_at).as_secs_f64().max(1e-9);
            let rate = (c.received - last_received) as f64 / dt;
            (last_at, last_received) = (now, c.received);
            let restarts = monitor.total_restarts();
            let elapsed = now.duration_since(started).as_secs_f64();
            match style {
                ProgressStyle::Human => eprintln!(
                    "[{elapsed:6.1}s] obs/s {rate:7.1} | accepted {} | delivered {} | \
                     dead letters {} | duplicates {} | alerts {} | restarts {restarts}",
                    c.accepted, c.delivered, c.dead_lettered, c.duplicates, c.alerts
                ),
                ProgressStyle::Json => tracing::info!(
                    event = "progress",
                    elapsed_s = elapsed,
                    obs_per_s = rate,
                    accepted = c.accepted,
                    delivered = c.delivered,
                    dead_lettered = c.dead_lettered,
                    duplicates = c.duplicates,
                    alerts = c.alerts,
                    restarts,
                ),
                ProgressStyle::Off => {}
            }
        }
    })
}
