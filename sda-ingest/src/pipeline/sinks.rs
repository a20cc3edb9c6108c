//! JSONL sinks: one JSON object per line, encoded straight into the sink's write buffer.
//!
//! A sink counts a line when it is in the buffer, writes the buffer out whenever it holds
//! `BUFFER_BYTES` (64 KiB) or the input is momentarily empty, and again at the end, and treats
//! every write error as an error: the sinks run under `RestartPolicy::Never`, so a failed write
//! ends the run instead of silently losing records.
//! Files are opened for appending, so the app truncates them once at start.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use sda_orchestrator::{Message, SinkContext, SinkFactory};
use tokio::io::AsyncWriteExt;

use super::counters::Counters;
use super::delivered::Delivered;
use super::faults::FaultInjection;
use super::frame::unix_now;
use super::operators::ConjunctionAlert;
use super::routed::Routed;

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
/// A sink writes its buffer out once it holds this much.
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
            let mut out = Output {
                file,
                buf: Vec::with_capacity(BUFFER_BYTES + 4096),
                name,
                path: &path,
            };
            let mut items = Vec::with_capacity(BATCH);
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                faults.check(name)?;
                let mut written = 0;
                for item in items.drain(..) {
                    if encode(&item, &mut out.buf)? {
                        out.buf.push(b'\n');
                        written += 1;
                    }
                    if out.buf.len() >= BUFFER_BYTES {
                        out.write_out().await?;
                    }
                }
                counter(&counters).fetch_add(written, Ordering::Relaxed);
                if ctx.input.is_empty() {
                    out.flush().await?;
                }
            }
            out.flush().await?;
            out.file
                .sync_data()
                .await
                .with_context(|| write_error(name, &path))?;
            Ok(())
        }
    }
}

/// A sink's file and the lines not yet written to it.
struct Output<'a> {
    file: tokio::fs::File,
    buf: Vec<u8>,
    name: &'static str,
    path: &'a std::path::Path,
}

impl Output<'_> {
    /// Hands the buffered lines to the file.
    async fn write_out(&mut self) -> anyhow::Result<()> {
        self.file
            .write_all(&self.buf)
            .await
            .with_context(|| write_error(self.name, self.path))?;
        self.buf.clear();
        Ok(())
    }

    /// Writes the buffered lines and waits until the file has them.
    async fn flush(&mut self) -> anyhow::Result<()> {
        self.write_out().await?;
        self.file
            .flush()
            .await
            .with_context(|| write_error(self.name, self.path))
    }
}

fn write_error(name: &str, path: &std::path::Path) -> String {
    format!("{name}: cannot write {}", path.display())
}

/// Appends a delivered observation's JSON (encoded once, by `dedup`).
pub fn encode_observation(item: &Arc<Delivered>, buf: &mut Vec<u8>) -> serde_json::Result<bool> {
    buf.extend_from_slice(item.json());
    Ok(true)
}

/// Appends an audit record: `{"id":…,"received_at":…,"written_at":…,"observation":{…}}`, the
/// observation as in `observations.jsonl` (its shared encoding, not a second one).
pub fn encode_audit(item: &Arc<Delivered>, buf: &mut Vec<u8>) -> serde_json::Result<bool> {
    let obs = &item.observation;
    buf.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut *buf, &obs.id)?;
    buf.extend_from_slice(b",\"received_at\":");
    serde_json::to_writer(&mut *buf, &obs.ingest.received_at)?;
    buf.extend_from_slice(b",\"written_at\":");
    serde_json::to_writer(&mut *buf, &unix_now())?;
    buf.extend_from_slice(b",\"observation\":");
    buf.extend_from_slice(item.json());
    buf.push(b'}');
    Ok(true)
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::observation::{Measurement, Observation, SensorKind};

    fn delivered(id: &str, received_at: Option<f64>) -> Arc<Delivered> {
        let mut obs = Observation {
            id: id.into(),
            sensor: "slr-1".into(),
            sensor_kind: SensorKind::LaserRanging,
            object_hint: Some(40001),
            epoch: 1_704_067_200.25,
            observer: None,
            measurement: Measurement::Range { range_m: 1.0e6 },
            quality: Default::default(),
            ingest: Default::default(),
        };
        obs.ingest.received_at = received_at;
        Arc::new(Delivered::new(obs).unwrap())
    }

    fn line(
        encode: fn(&Arc<Delivered>, &mut Vec<u8>) -> serde_json::Result<bool>,
        item: &Arc<Delivered>,
    ) -> Value {
        let mut buf = Vec::new();
        assert!(encode(item, &mut buf).unwrap());
        assert!(!buf.contains(&b'\n'), "one line per record");
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn observation_lines_are_the_observation() {
        let item = delivered("slr-1/7", Some(1.5));
        let value = line(encode_observation, &item);
        assert_eq!(value, serde_json::to_value(&item.observation).unwrap());
        let back: Observation = serde_json::from_value(value).unwrap();
        assert_eq!(back, item.observation);
    }

    #[test]
    fn audit_lines_wrap_the_observation_with_both_timestamps() {
        // Quotes, backslashes and control characters in the id must be escaped.
        for (id, received_at) in [("slr-1/7", Some(1.5)), ("we\"ird\\id\n\u{1}", None)] {
            let item = delivered(id, received_at);
            let before = unix_now();
            let value = line(encode_audit, &item);
            let after = unix_now();
            let written_at = value["written_at"].as_f64().unwrap();
            assert!((before..=after).contains(&written_at));
            assert_eq!(
                value,
                json!({
                    "id": id,
                    "received_at": received_at,
                    "written_at": written_at,
                    "observation": serde_json::to_value(&item.observation).unwrap(),
                })
            );
            let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 4);
        }
    }
}
