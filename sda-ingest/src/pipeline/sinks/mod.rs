//! The JSONL sinks: the output files, their line encoders, and the sink that writes them.
//!
//! A sink counts a line only once its bytes are in the file (see [`JsonlFile`]), and treats
//! every write error as an error: the sinks run under `RestartPolicy::Never`, so a failed write
//! ends the run instead of silently losing records. Files are opened for appending: a fresh
//! run has the app truncate them once at start ([`Existing::Append`]); a run that continues an
//! earlier one's output ([`Existing::Continue`], see [`continuation`]) keeps them, cuts a torn
//! tail off and skips the records whose id is already written: observations and audit records
//! by observation id, alerts by `alert_id`, dead letters by `dead_letter_id` (the input's
//! position, see [`crate::pipeline::origin`]). A skipped dead letter is counted in
//! `already_written` and as a duplicate of its source, so that each source's
//! `read = delivered + dead_lettered + duplicates + dropped` still holds in a resumed run (whose
//! replay reads it again); see [`count_dead_letters`].
//!
//! **Checkpoints.** Each sink takes checkpoint barriers explicitly: at a barrier it writes out
//! and `fsync`s everything it received before it, and only then commits the checkpoint. So when
//! a checkpoint completes, every record before it is on disk, and a source over a durable log
//! may acknowledge the log up to there. A graph without checkpoints sends no barrier.

pub mod continuation;
mod dead_letters;
mod jsonl;

pub use continuation::{Continued, Existing, IdKey, JsonObject, continue_file};
pub use dead_letters::{DeadLetterGate, DeadLetterLimit, is_notice};
pub use jsonl::{BUFFER_BYTES, Encode, JsonlFile, Tally};

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use sda_ingest_core::{Observation, SensorKind};
use sda_orchestrator::checkpoint::CheckpointToken;
use sda_orchestrator::monitor::RecentRing;
use sda_orchestrator::{InputEvent, Message, SinkContext, SinkFactory};

use anyhow::Context as _;

use super::counters::{Counters, add};
use super::delivered::Delivered;
use super::faults::FaultInjection;
use super::frame::unix_now;
use super::operators::{BATCH, ConjunctionAlert};
use super::routed::Routed;

/// Output file names inside the output folder.
pub mod files {
    /// Every delivered observation.
    pub const OBSERVATIONS: &str = "observations.jsonl";
    /// Every delivered observation with its receive and write timestamps.
    pub const AUDIT: &str = "audit.jsonl";
    /// Conjunction alerts.
    pub const ALERTS: &str = "alerts.jsonl";
    /// Every control action of the control plane, accepted or refused (hash-chained).
    pub const CONTROL_AUDIT: &str = "control_audit.jsonl";
    /// Records that failed to decode or validate.
    pub const DEAD_LETTER: &str = "dead_letter.jsonl";
    /// All of them.
    pub const ALL: [&str; 4] = [OBSERVATIONS, AUDIT, ALERTS, DEAD_LETTER];
}

/// Whether a sink's lines reached the file or were lost to a write error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The lines are in the file.
    Written,
    /// A write failed; these lines are not in the file.
    Unwritten,
    /// A continued file already held their id: skipped, not written again.
    Skipped,
}

/// Adds a tally of lines to the counters their fate and source call for.
pub type CountLines = fn(&Counters, &Tally, Fate);

/// What defines one JSONL sink: its vertex name, its file, how its lines are counted, and its
/// line encoder.
#[derive(Debug)]
pub struct JsonlSpec<T> {
    /// The sink's vertex name (labels its errors).
    pub name: &'static str,
    /// The file name inside the output folder.
    pub file: &'static str,
    /// The source each item is counted against (`None` for items that are not records).
    pub source: fn(&T) -> Option<SensorKind>,
    /// Counts lines once their fate is known.
    pub count: CountLines,
    /// The line encoder.
    pub encode: Encode<T>,
    /// Whether the file is hash-chained ([`JsonlFile::open_chained`]).
    pub chained: bool,
    /// The record id a continued file is de-duplicated by (`None`: a continued file is only
    /// appended to).
    pub id: Option<RecordId<T>>,
}

/// Where a record's id is: in the item, and under which key in its line.
#[derive(Debug)]
pub struct RecordId<T> {
    /// The JSON key of the id in a written line, and which lines are not records.
    pub key: IdKey,
    /// The id of an item (`None`: the item is not a record the sink writes).
    pub of: fn(&T) -> Option<&str>,
}

impl<T> Clone for RecordId<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for RecordId<T> {}

/// Observations and audit records go by the observation id, under `id`.
const OBSERVATION_ID: RecordId<Arc<Delivered>> = RecordId {
    key: IdKey::new("id"),
    of: |d| Some(&d.observation.id),
};

impl<T> Clone for JsonlSpec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for JsonlSpec<T> {}

/// The source an observation is counted against: the stream that delivered it.
pub fn source_of(obs: &Observation) -> SensorKind {
    obs.ingest.source.unwrap_or(obs.sensor_kind)
}

/// `observations.jsonl`: every delivered observation, counted in its source's `delivered`.
pub const OBSERVATIONS: JsonlSpec<Arc<Delivered>> = JsonlSpec {
    name: "observations",
    file: files::OBSERVATIONS,
    source: |d| Some(source_of(&d.observation)),
    count: |c, tally, fate| {
        for (kind, n) in tally.by_source() {
            let s = c.source(kind);
            add(
                match fate {
                    Fate::Written => &s.delivered,
                    Fate::Unwritten => &s.unwritten,
                    // A redelivery of what the file holds: a re-send, as `dedup` counts them.
                    Fate::Skipped => &s.duplicates,
                },
                n,
            );
        }
    },
    encode: encode_observation,
    chained: false,
    id: Some(OBSERVATION_ID),
};

/// `audit.jsonl`: every delivered observation with its timestamps, counted in `audited`.
pub const AUDIT: JsonlSpec<Arc<Delivered>> = JsonlSpec {
    name: "audit",
    file: files::AUDIT,
    source: |_| None,
    count: |c, tally, fate| {
        add(
            match fate {
                Fate::Written => &c.audited,
                Fate::Unwritten => &c.audit_unwritten,
                Fate::Skipped => &c.already_written,
            },
            tally.total(),
        );
    },
    encode: encode_audit,
    chained: true,
    id: Some(OBSERVATION_ID),
};

/// `alerts.jsonl`: conjunction alerts, counted in `alerts`.
pub const ALERTS: JsonlSpec<Arc<ConjunctionAlert>> = JsonlSpec {
    name: "alerts",
    file: files::ALERTS,
    source: |_| None,
    count: |c, tally, fate| {
        add(
            match fate {
                Fate::Written => &c.alerts,
                Fate::Unwritten => &c.alerts_unwritten,
                Fate::Skipped => &c.already_written,
            },
            tally.total(),
        );
    },
    encode: encode_alert,
    chained: false,
    id: Some(RecordId {
        key: IdKey::new("alert_id"),
        of: |a| Some(&a.alert_id),
    }),
};

/// Counts dead-letter lines: written ones in their source's `dead_lettered`; skipped ones (a
/// continued file already held their id: the same input read again after a crash) in
/// `already_written` and, so that `read = delivered + dead_lettered + duplicates + dropped`
/// holds per source, in their source's `duplicates`, as a skipped observation is.
pub fn count_dead_letters(c: &Counters, tally: &Tally, fate: Fate) {
    for (kind, n) in tally.by_source() {
        let s = c.source(kind);
        add(
            match fate {
                Fate::Written => &s.dead_lettered,
                Fate::Unwritten => &s.unwritten,
                Fate::Skipped => &s.duplicates,
            },
            n,
        );
    }
    if fate == Fate::Skipped {
        add(&c.already_written, tally.total());
    }
}

/// The key of a dead letter's id in `dead_letter.jsonl` (see [`crate::pipeline::origin`]);
/// the file's notice lines have none.
pub const DEAD_LETTER_ID: IdKey = IdKey {
    key: "dead_letter_id",
    notice: Some(is_notice),
};

/// `dead_letter.jsonl`: records that failed to decode or validate, counted in their source's
/// `dead_lettered`, continued by their `dead_letter_id`.
pub const DEAD_LETTER: JsonlSpec<Routed> = JsonlSpec {
    name: "dead_letter",
    file: files::DEAD_LETTER,
    source: |item| match item {
        Routed::DeadLetter(letter) => Some(letter.source),
        Routed::Accepted(..) => None,
    },
    count: count_dead_letters,
    encode: encode_dead_letter,
    chained: false,
    id: Some(RecordId {
        key: DEAD_LETTER_ID,
        of: |item| match item {
            Routed::DeadLetter(letter) => Some(&letter.dead_letter_id),
            Routed::Accepted(..) => None,
        },
    }),
};

/// One JSONL sink's file and counters: the writer that both the sink vertex and the hand-wired
/// benchmark baseline drive, a batch at a time.
#[derive(Debug)]
pub struct JsonlWriter<T> {
    spec: JsonlSpec<T>,
    file: JsonlFile,
    counters: Arc<Counters>,
    /// The ids in the file, when it continues an earlier run's (see [`continuation`]).
    written_ids: Option<HashSet<Box<str>>>,
}

impl<T> JsonlWriter<T> {
    /// Opens `spec`'s file in `out_dir` for appending.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub async fn open(
        spec: JsonlSpec<T>,
        out_dir: &Path,
        counters: Arc<Counters>,
    ) -> anyhow::Result<Self> {
        Self::open_with(spec, out_dir, counters, Existing::Append).await
    }

    /// Opens `spec`'s file in `out_dir`, treating what it holds as `existing` says: appending
    /// after it, or continuing it (see [`continuation`]: a torn tail is cut, and items whose id
    /// the file holds are skipped).
    ///
    /// # Errors
    ///
    /// The file cannot be opened, or (continuing) read, cut, or understood.
    pub async fn open_with(
        spec: JsonlSpec<T>,
        out_dir: &Path,
        counters: Arc<Counters>,
        existing: Existing,
    ) -> anyhow::Result<Self> {
        let path = out_dir.join(spec.file);
        let (file, written_ids) = match existing {
            Existing::Append if spec.chained => {
                (JsonlFile::open_chained(spec.name, &path).await?, None)
            }
            Existing::Append => (JsonlFile::open(spec.name, &path).await?, None),
            Existing::Continue => {
                let (owned, chained, key) = (path.clone(), spec.chained, spec.id.map(|id| id.key));
                let continued =
                    tokio::task::spawn_blocking(move || continue_file(&owned, chained, key))
                        .await
                        .context("reading the file to continue panicked")?
                        .with_context(|| {
                            format!("{}: cannot continue {}", spec.name, path.display())
                        })?;
                tracing::info!(
                    sink = spec.name,
                    file = spec.file,
                    records = continued.records,
                    cut_bytes = continued.cut_bytes,
                    "continuing existing output"
                );
                let chain = if spec.chained {
                    Some(
                        continued
                            .chain
                            .unwrap_or(crate::audit_chain::ChainState::GENESIS),
                    )
                } else {
                    None
                };
                let file = JsonlFile::open_continued(spec.name, &path, chain).await?;
                (file, spec.id.map(|_| continued.ids))
            }
        };
        Ok(JsonlWriter {
            spec,
            file,
            counters,
            written_ids,
        })
    }

    /// Takes the items whose id the file already holds out of `items`, counting them as
    /// skipped; the others' ids join the set.
    fn skip_written(&mut self, items: &mut Vec<T>) {
        let (Some(ids), Some(id)) = (&mut self.written_ids, self.spec.id) else {
            return;
        };
        let mut skipped = Tally::default();
        let source = self.spec.source;
        items.retain(|item| {
            let Some(key) = (id.of)(item) else {
                return true;
            };
            let fresh = ids.insert(key.into());
            if !fresh {
                skipped.add(source(item));
            }
            fresh
        });
        (self.spec.count)(&self.counters, &skipped, Fate::Skipped);
    }

    /// Writes out and syncs everything received so far, then commits `token`: the checkpoint
    /// may complete, since every record before its barrier is on disk.
    ///
    /// # Errors
    ///
    /// Writing or syncing failed; the token is dropped, which abandons the checkpoint.
    pub async fn commit(&mut self, token: CheckpointToken) -> anyhow::Result<()> {
        let result = self.file.finish().await;
        self.settle(result)?;
        token.commit();
        Ok(())
    }

    /// Writes `items` (leaving it empty), flushing when `idle` (nothing more is queued), and
    /// counts the lines that reached the file.
    ///
    /// # Errors
    ///
    /// Encoding or writing failed; the lines that did not reach the file are counted as
    /// unwritten first (see [`JsonlFile`]).
    pub async fn write(&mut self, items: &mut Vec<T>, idle: bool) -> anyhow::Result<()> {
        self.skip_written(items);
        self.write_fresh(items, idle).await
    }

    /// Writes `items` as [`write`](Self::write) does, once [`skip_written`](Self::skip_written)
    /// has taken out what the file holds.
    async fn write_fresh(&mut self, items: &mut Vec<T>, idle: bool) -> anyhow::Result<()> {
        let result = self
            .file
            .write_batch(items, self.spec.encode, self.spec.source)
            .await;
        let result = match result {
            Ok(()) if idle => self.file.flush().await,
            other => other,
        };
        self.settle(result)
    }

    /// Appends lines that are not records (notices), uncounted.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub async fn write_lines(&mut self, lines: Vec<Vec<u8>>) -> anyhow::Result<()> {
        for line in lines {
            let result = self.file.write_line(&line).await;
            self.settle(result)?;
        }
        Ok(())
    }

    /// Flushes and syncs the file, counting what the flush wrote.
    ///
    /// # Errors
    ///
    /// Writing or syncing failed.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        let result = self.file.finish().await;
        if let Some(state) = self.file.chain_state() {
            tracing::info!(
                sink = self.spec.name,
                file = self.spec.file,
                blocks = state.next_seq,
                head = %state.head_hex(),
                "audit chain head"
            );
        }
        self.settle(result)
    }

    /// Counts the lines whose fate the last call decided, and passes its result on.
    fn settle(&mut self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        let (written, unwritten) = self.file.take_settled();
        (self.spec.count)(&self.counters, &written, Fate::Written);
        (self.spec.count)(&self.counters, &unwritten, Fate::Unwritten);
        if unwritten.total() > 0 {
            tracing::error!(
                sink = self.spec.name,
                unwritten = unwritten.total(),
                "a write failed; these lines are not in the file"
            );
        }
        result
    }
}

/// The dead-letter file behind its rate limit: the writer that both the `dead_letter` sink and
/// the hand-wired benchmark baseline drive.
#[derive(Debug)]
pub struct DeadLetterWriter {
    writer: JsonlWriter<Routed>,
    gate: DeadLetterGate,
    counters: Arc<Counters>,
    /// Also fed every dead letter written, for the control plane.
    recent: Option<RecentRing<serde_json::Value>>,
}

impl DeadLetterWriter {
    /// Opens `dead_letter.jsonl` in `out_dir`, limited by `limit`.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub async fn open(
        out_dir: &Path,
        limit: DeadLetterLimit,
        counters: Arc<Counters>,
    ) -> anyhow::Result<Self> {
        Self::open_with(out_dir, limit, counters, Existing::Append).await
    }

    /// Opens `dead_letter.jsonl` as [`open`](Self::open) does, treating what it holds as
    /// `existing` says (continued, it is cut to its last complete line, and dead letters whose
    /// `dead_letter_id` it holds are skipped).
    ///
    /// # Errors
    ///
    /// The file cannot be opened, or (continuing) read, cut, or understood.
    pub async fn open_with(
        out_dir: &Path,
        limit: DeadLetterLimit,
        counters: Arc<Counters>,
        existing: Existing,
    ) -> anyhow::Result<Self> {
        Ok(DeadLetterWriter {
            writer: JsonlWriter::open_with(DEAD_LETTER, out_dir, counters.clone(), existing)
                .await?,
            gate: DeadLetterGate::new(limit),
            counters,
            recent: None,
        })
    }

    /// Also feeds every dead letter it writes to `ring`, as its JSON.
    pub fn with_recent(mut self, ring: RecentRing<serde_json::Value>) -> Self {
        self.recent = Some(ring);
        self
    }

    /// Writes the dead letters of `items` that the limit admits, counts the others, and writes
    /// the notices that are due.
    ///
    /// A continued file's dead letters are skipped first, before the limit: a replayed dead
    /// letter is neither written again nor charged to the limit (nor fed to the recent ones).
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub async fn write(&mut self, items: &mut Vec<Routed>, idle: bool) -> anyhow::Result<()> {
        self.writer.skip_written(items);
        self.gate.admit(items, &self.counters);
        if let Some(ring) = &self.recent {
            ring.extend(items.iter().filter_map(|item| match item {
                Routed::DeadLetter(letter) => serde_json::to_value(&**letter).ok(),
                Routed::Accepted(..) => None,
            }));
        }
        let notices = self.gate.notices(false);
        self.writer.write_lines(notices).await?;
        self.writer.write_fresh(items, idle).await
    }

    /// Writes out and syncs everything so far, then commits `token` (see
    /// [`JsonlWriter::commit`]).
    ///
    /// # Errors
    ///
    /// Writing or syncing failed.
    pub async fn commit(&mut self, token: CheckpointToken) -> anyhow::Result<()> {
        self.writer.commit(token).await
    }

    /// Writes the last notices, then flushes and syncs the file.
    ///
    /// # Errors
    ///
    /// Writing or syncing failed.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        let notices = self.gate.notices(true);
        self.writer.write_lines(notices).await?;
        self.writer.finish().await
    }
}

/// The `dead_letter` sink: `dead_letter.jsonl` behind the dead-letter rate limit; the dead
/// letters it writes are also fed to `recent`, when given (the control plane's
/// `/dead-letters`).
pub fn dead_letter_sink(
    out_dir: &Path,
    limit: DeadLetterLimit,
    counters: Arc<Counters>,
    faults: FaultInjection,
    recent: Option<RecentRing<serde_json::Value>>,
    existing: Existing,
) -> impl SinkFactory<Routed> + use<> {
    let out_dir = out_dir.to_owned();
    move |mut ctx: SinkContext<Routed>| {
        let (out_dir, counters, faults) = (out_dir.clone(), counters.clone(), faults.clone());
        let recent = recent.clone();
        async move {
            let mut writer =
                DeadLetterWriter::open_with(&out_dir, limit, counters, existing).await?;
            if let Some(ring) = recent {
                writer = writer.with_recent(ring);
            }
            let mut items = Vec::with_capacity(BATCH);
            while let Some(event) = ctx.input.recv_many_event(&mut items, BATCH).await {
                match event {
                    InputEvent::Item(_) => {
                        faults.check_holding(DEAD_LETTER.name, &mut ctx.input, &mut items)?;
                        writer.write(&mut items, ctx.input.is_empty()).await?;
                    }
                    InputEvent::Checkpoint(token) => writer.commit(token).await?,
                    InputEvent::Watermark(_) => {}
                }
            }
            writer.finish().await
        }
    }
}

/// The JSONL sink `spec` writing into `out_dir`, counting each line once it is in the file
/// (lines its encoder skips are not counted).
///
/// The buffer is written out whenever it holds [`BUFFER_BYTES`] or the input is momentarily
/// empty, at each checkpoint barrier (then synced, before the checkpoint is committed), and at
/// the end, when the file is also synced. `existing` says whether the file is appended to or
/// continued (see [`continuation`]).
pub fn jsonl_sink<T: Message>(
    spec: JsonlSpec<T>,
    out_dir: &Path,
    counters: Arc<Counters>,
    faults: FaultInjection,
    existing: Existing,
) -> impl SinkFactory<T> + use<T> {
    let out_dir = out_dir.to_owned();
    move |mut ctx: SinkContext<T>| {
        let (out_dir, counters, faults) = (out_dir.clone(), counters.clone(), faults.clone());
        async move {
            let mut writer = JsonlWriter::open_with(spec, &out_dir, counters, existing).await?;
            let mut items = Vec::with_capacity(BATCH);
            while let Some(event) = ctx.input.recv_many_event(&mut items, BATCH).await {
                match event {
                    InputEvent::Item(_) => {
                        faults.check_holding(spec.name, &mut ctx.input, &mut items)?;
                        writer.write(&mut items, ctx.input.is_empty()).await?;
                    }
                    InputEvent::Checkpoint(token) => writer.commit(token).await?,
                    InputEvent::Watermark(_) => {}
                }
            }
            writer.finish().await
        }
    }
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
        Routed::Accepted(..) => Ok(false),
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
    use sda_ingest_core::{Measurement, Observation, SensorKind};

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

    fn ids_in(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !crate::audit_chain::is_chain_line(l.as_bytes()))
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    async fn write_all(
        spec: JsonlSpec<Arc<Delivered>>,
        dir: &Path,
        existing: Existing,
        counters: &Arc<Counters>,
        ids: &[&str],
    ) {
        let mut writer = JsonlWriter::open_with(spec, dir, counters.clone(), existing)
            .await
            .unwrap();
        let mut items: Vec<_> = ids.iter().map(|id| delivered(id, Some(1.0))).collect();
        writer.write(&mut items, true).await.unwrap();
        writer.finish().await.unwrap();
    }

    #[tokio::test]
    async fn a_continued_observations_file_writes_each_id_once_and_counts_the_rest_as_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        write_all(
            OBSERVATIONS,
            dir.path(),
            Existing::Append,
            &counters,
            &["a", "b"],
        )
        .await;
        // A run killed mid-write left a torn line behind.
        let path = dir.path().join(files::OBSERVATIONS);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"id\":\"c\",\"sens");
        std::fs::write(&path, bytes).unwrap();

        let counters = Arc::new(Counters::default());
        write_all(
            OBSERVATIONS,
            dir.path(),
            Existing::Continue,
            &counters,
            &["b", "c", "c", "d", "a"],
        )
        .await;
        assert_eq!(ids_in(&path), ["a", "b", "c", "d"]);
        let s = counters.snapshot().sources["laser_ranging"];
        assert_eq!((s.delivered, s.duplicates), (2, 3));
    }

    #[tokio::test]
    async fn a_continued_audit_file_goes_on_with_its_chain_and_skips_written_ids() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        write_all(AUDIT, dir.path(), Existing::Append, &counters, &["a", "b"]).await;
        let path = dir.path().join(files::AUDIT);
        // Lines written after the last seal, never sealed: cut on continuing.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"id\":\"c\"}\n{\"id\":\"d");
        std::fs::write(&path, bytes).unwrap();

        let counters = Arc::new(Counters::default());
        write_all(
            AUDIT,
            dir.path(),
            Existing::Continue,
            &counters,
            &["a", "c", "d"],
        )
        .await;
        assert_eq!(ids_in(&path), ["a", "b", "c", "d"]);
        let verified = crate::audit_chain::verify_file(&path).unwrap();
        assert_eq!((verified.records, verified.blocks), (4, 2));
        let c = counters.snapshot();
        assert_eq!((c.audited, c.already_written), (2, 1));
    }

    fn dead_letter(id: &str) -> Routed {
        Routed::DeadLetter(Arc::new(crate::pipeline::DeadLetter::bare(
            id,
            SensorKind::Radar,
            "bad_magic",
        )))
    }

    async fn write_letters(
        dir: &Path,
        existing: Existing,
        limit: DeadLetterLimit,
        ids: &[&str],
    ) -> Arc<Counters> {
        let counters = Arc::new(Counters::default());
        let mut writer = DeadLetterWriter::open_with(dir, limit, counters.clone(), existing)
            .await
            .unwrap();
        let mut items: Vec<_> = ids.iter().map(|id| dead_letter(id)).collect();
        writer.write(&mut items, true).await.unwrap();
        writer.finish().await.unwrap();
        counters
    }

    fn letter_ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter_map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["dead_letter_id"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_continued_dead_letter_file_writes_each_id_once_and_counts_the_rest_as_already_written()
     {
        let dir = tempfile::tempdir().unwrap();
        // A limit of one per second: the first run writes one letter and a notice line for the
        // one it suppressed.
        let one = DeadLetterLimit {
            per_second: std::num::NonZeroU32::MIN,
            burst: std::num::NonZeroU32::MIN,
            notice_every: std::time::Duration::from_secs(3600),
        };
        write_letters(dir.path(), Existing::Append, one, &["a", "b"]).await;
        let path = dir.path().join(files::DEAD_LETTER);
        assert_eq!(letter_ids(&path), ["a"]);
        let notices = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
        assert_eq!(notices, 1, "the suppressed letter has its notice line");
        // A run killed mid-write left a torn line behind.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"dead_letter_id\":\"c\",\"sta");
        std::fs::write(&path, bytes).unwrap();

        // The replay: "a" is in the file (skipped, and not charged to the limit, which admits
        // one: "c"), "b" was suppressed (never written: suppressed again), "c" was torn.
        let counters = write_letters(dir.path(), Existing::Continue, one, &["a", "c", "b"]).await;
        assert_eq!(letter_ids(&path), ["a", "c"]);
        let c = counters.snapshot();
        let radar = c.sources["radar"];
        assert_eq!(
            (radar.dead_lettered, radar.suppressed, radar.duplicates),
            (2, 1, 1)
        );
        assert_eq!(c.already_written, 1);

        // Continued again, with room: everything is already there but "b".
        let counters = write_letters(
            dir.path(),
            Existing::Continue,
            DeadLetterLimit::default(),
            &["c", "b", "a", "b"],
        )
        .await;
        assert_eq!(letter_ids(&path), ["a", "c", "b"]);
        let c = counters.snapshot();
        assert_eq!(
            (
                c.sources["radar"].dead_lettered,
                c.sources["radar"].duplicates
            ),
            (1, 3)
        );
        assert_eq!(c.already_written, 3);
    }

    #[tokio::test]
    async fn appending_does_not_skip_ids() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        write_all(
            OBSERVATIONS,
            dir.path(),
            Existing::Append,
            &counters,
            &["a"],
        )
        .await;
        write_all(
            OBSERVATIONS,
            dir.path(),
            Existing::Append,
            &counters,
            &["a"],
        )
        .await;
        assert_eq!(ids_in(&dir.path().join(files::OBSERVATIONS)), ["a", "a"]);
    }
}
