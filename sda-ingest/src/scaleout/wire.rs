//! What travels between edge and core: subjects, payloads, and their accounting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sda_ingest_core::{Observation, SensorKind};
use sda_orchestrator::nats::{ConsumeCodec, PublishCodec};

use crate::pipeline::Routed;
use crate::pipeline::counters::{Counters, bump};
use crate::pipeline::sinks::source_of;

/// A subject token from a name: the characters a subject token may not hold become `_`.
fn token(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' | '*' | '>' | ' ' | '\t' | '\r' | '\n' => '_',
            c => c,
        })
        .collect()
}

/// The edge's codec: accepted observations to `sda.obs.{sensor}`, dead letters to
/// `sda.dead.{source}`. Each item's message id is unique to its publish (this process's
/// nonce and a count), so a publish retried after a lost ack is stored once, while a re-sent
/// observation (same id, new read) still reaches the core's dedup to be counted there.
///
/// Once JetStream has stored an item it counts it: an observation in its source's
/// `delivered`, a dead letter in its source's `dead_lettered` (on the edge, delivered means
/// published).
#[derive(Debug)]
pub struct EdgeCodec {
    counters: Arc<Counters>,
    nonce: u64,
    next: AtomicU64,
}

impl EdgeCodec {
    /// A codec counting in `counters`.
    pub fn new(counters: Arc<Counters>) -> Self {
        EdgeCodec {
            counters,
            nonce: fastrand::u64(..),
            next: AtomicU64::new(0),
        }
    }
}

impl PublishCodec<Routed> for EdgeCodec {
    fn subject(&self, item: &Routed) -> String {
        match item {
            Routed::Accepted(obs, _) => format!("sda.obs.{}", token(&obs.sensor)),
            Routed::DeadLetter(letter) => format!("sda.dead.{}", letter.source.as_str()),
        }
    }

    fn encode(&self, item: &Routed) -> Result<Bytes, String> {
        match item {
            Routed::Accepted(obs, _) => serde_json::to_vec(&**obs),
            Routed::DeadLetter(letter) => serde_json::to_vec(&**letter),
        }
        .map(Bytes::from)
        .map_err(|e| e.to_string())
    }

    fn message_id(&self, _item: &Routed) -> Option<String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Some(format!("{:016x}-{n}", self.nonce))
    }

    fn published(&self, item: &Routed) {
        match item {
            Routed::Accepted(obs, _) => bump(&self.counters.source(source_of(obs)).delivered),
            Routed::DeadLetter(letter) => bump(&self.counters.source(letter.source).dead_lettered),
        }
    }
}

/// A record as the core receives it from the edge.
#[derive(Debug, Clone)]
pub enum Remote {
    /// An accepted observation, on to dedup.
    Observation(Arc<Observation>),
    /// A dead letter, written as the edge encoded it.
    DeadLetter {
        /// The source that read it.
        source: SensorKind,
        /// Its `dead_letter_id`, read from its JSON: a redelivery has the same.
        id: Box<str>,
        /// Its JSON.
        json: Bytes,
    },
}

impl Remote {
    /// Whether it is an observation.
    pub fn is_observation(&self) -> bool {
        matches!(self, Remote::Observation(_))
    }

    /// Whether it is a dead letter.
    pub fn is_dead_letter(&self) -> bool {
        matches!(self, Remote::DeadLetter { .. })
    }
}

/// The core's codec: messages from the edge, counted per source as they are read (`frames`,
/// `frames_decoded` and `read` for each; `accepted` for observations). A redelivered message is
/// read again, and counted again: its second fate is a duplicate, of an observation (by `dedup`
/// or the observations sink) or of a dead letter (the dead-letter sink skips an id its file
/// holds). A dead letter without a `dead_letter_id` is not decoded.
#[derive(Debug)]
pub struct CoreCodec {
    counters: Arc<Counters>,
}

impl CoreCodec {
    /// A codec counting in `counters`.
    pub fn new(counters: Arc<Counters>) -> Self {
        CoreCodec { counters }
    }

    fn count_read(&self, source: SensorKind) {
        let s = self.counters.source(source);
        bump(&s.frames);
        bump(&s.frames_decoded);
        bump(&s.read);
    }
}

impl ConsumeCodec<Remote> for CoreCodec {
    fn decode(&self, subject: &str, payload: &[u8]) -> Result<Remote, String> {
        if subject.starts_with("sda.obs.") {
            let obs: Observation = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
            let source = source_of(&obs);
            self.count_read(source);
            bump(&self.counters.source(source).accepted);
            Ok(Remote::Observation(Arc::new(obs)))
        } else if let Some(name) = subject.strip_prefix("sda.dead.") {
            let source = SensorKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == name)
                .ok_or(())
                .map_err(|_| format!("no source `{name}` in subject {subject}"))?;
            let id = dead_letter_id(payload)?;
            self.count_read(source);
            Ok(Remote::DeadLetter {
                source,
                id,
                json: Bytes::copy_from_slice(payload),
            })
        } else {
            Err(format!("unexpected subject {subject}"))
        }
    }
}

/// The `dead_letter_id` of a dead letter's JSON.
fn dead_letter_id(payload: &[u8]) -> Result<Box<str>, String> {
    /// Only the id is read; the rest of the dead letter is written as it came.
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        dead_letter_id: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Id<'_>>(payload)
        .map(|id| id.dead_letter_id.into())
        .map_err(|e| format!("a dead letter without its id: {e}"))
}
