//! JSONL sinks: one JSON object per line, through a buffered writer.
//!
//! A sink counts a line when it hands it to the writer, flushes whenever its input is momentarily
//! empty and again at the end, and treats every write error as an error: the sinks run under
//! `RestartPolicy::Never`, so a failed write ends the run instead of silently losing records.
//! Files are opened for appending, so the app truncates them once at start.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use sda_orchestrator::{Message, SinkContext, SinkFactory};
use serde::Serialize;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::counters::Counters;
use super::faults::FaultInjection;
use super::frame::unix_now;
use super::operators::ConjunctionAlert;
use super::routed::Routed;
use crate::observation::Observation;

/// Output file names inside the output folder.
pub mod files {
    /// Every delivered observation.
    pub const OBSERVATIONS: &str = "observations.jsonl";
    /// Every delivered observation with its receive and write timestamps.
    pub const AUDIT: &str = "audit.jsonl";
    /// Conjunction alerts.
    pub const ALERTS: &str = "alerts.jsonl";
    /// Records that failed to decode or validate.
    pub const DEAD_LETTER: &str = "dead_letter.jsonl";
    /// All of them.
    pub const ALL: [&str; 4] = [OBSERVATIONS, AUDIT, ALERTS, DEAD_LETTER];
}

const BATCH: usize = 256;
const BUFFER_BYTES: usize = 64 * 1024;

/// Picks which counter a sink bumps.
pub type CounterOf = fn(&Counters) -> &AtomicU64;

/// A JSONL sink named `name` writing to `path`. `encode` appends an item's JSON to the buffer
/// and says whether it wrote one (items it skips are not counted).
pub fn jsonl_sink<T, E>(
    name: &'static str,
    path: PathBuf,
    counters: Arc<Counters>,
    counter: CounterOf,
    faults: FaultInjection,
    encode: E,
) -> impl SinkFactory<T>
where
    T: Message,
    E: Fn(&T, &mut Vec<u8>) -> serde_json::Result<bool> + Clone + Send + Sync + 'static,
{
    move |mut ctx: SinkContext<T>| {
        let (path, counters, faults, encode) = (
            path.clone(),
            counters.clone(),
            faults.clone(),
            encode.clone(),
        );
        async move {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
                .with_context(|| format!("{name}: cannot open {}", path.display()))?;
            let mut out = BufWriter::with_capacity(BUFFER_BYTES, file);
            let (mut items, mut line) = (Vec::with_capacity(BATCH), Vec::new());
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check(name)?;
                let mut written = 0;
                for item in items.drain(..) {
                    line.clear();
                    if encode(&item, &mut line)? {
                        line.push(b'\n');
                        out.write_all(&line)
                            .await
                            .with_context(|| write_error(name, &path))?;
                        written += 1;
                    }
                }
                counter(&counters).fetch_add(written, Ordering::Relaxed);
                if ctx.input.is_empty() {
                    out.flush()
                        .await
                        .with_context(|| write_error(name, &path))?;
                }
            }
            out.flush()
                .await
                .with_context(|| write_error(name, &path))?;
            out.get_mut()
                .sync_data()
                .await
                .with_context(|| write_error(name, &path))?;
            Ok(())
        }
    }
}

fn write_error(name: &str, path: &std::path::Path) -> String {
    format!("{name}: cannot write {}", path.display())
}

/// Encodes an observation as delivered.
pub fn encode_observation(obs: &Arc<Observation>, buf: &mut Vec<u8>) -> serde_json::Result<bool> {
    serde_json::to_writer(buf, &**obs).map(|()| true)
}

/// One line of `audit.jsonl`.
#[derive(Serialize)]
struct AuditRecord<'a> {
    id: &'a str,
    received_at: Option<f64>,
    written_at: f64,
    observation: &'a Observation,
}

/// Encodes an observation with its receive and write timestamps.
pub fn encode_audit(obs: &Arc<Observation>, buf: &mut Vec<u8>) -> serde_json::Result<bool> {
    let record = AuditRecord {
        id: &obs.id,
        received_at: obs.ingest.received_at,
        written_at: unix_now(),
        observation: obs,
    };
    serde_json::to_writer(buf, &record).map(|()| true)
}

/// Encodes a dead letter; accepted observations are skipped (see [`Routed`]).
pub fn encode_dead_letter(item: &Routed, buf: &mut Vec<u8>) -> serde_json::Result<bool> {
    match item {
        Routed::DeadLetter(letter) => serde_json::to_writer(buf, &**letter).map(|()| true),
        Routed::Accepted(_) => Ok(false),
    }
}

/// Encodes a conjunction alert.
pub fn encode_alert(alert: &Arc<ConjunctionAlert>, buf: &mut Vec<u8>) -> serde_json::Result<bool> {
    serde_json::to_writer(buf, &**alert).map(|()| true)
}
