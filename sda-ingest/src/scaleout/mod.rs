//! Scale-out over NATS JetStream: the service split into an **edge** (sources → normalize →
//! validate → publish) and a **core** (consume → dedup → sinks → correlator → alerts), with
//! the durable stream between them.
//!
//! # Names on the broker
//!
//! * Stream [`STREAM`] (`SDA`), file-backed, over [`SUBJECTS`] (`sda.>`), created by either
//!   role when absent.
//! * Accepted observations on `sda.obs.{sensor}` (the sensor's name, `.`/`*`/`>`/spaces
//!   replaced by `_`), their JSON as in `observations.jsonl`.
//! * Dead letters on `sda.dead.{source}`, their JSON as in `dead_letter.jsonl`, with the
//!   `dead_letter_id` the edge gave them (see [`crate::pipeline::origin`]).
//! * The core's durable pull consumer [`CONSUMER`] (`sda-core`): every core started on it
//!   shares its messages.
//!
//! # Delivery
//!
//! The edge counts a record only once JetStream has acknowledged storing it, and retries
//! through an outage (its input edges fill; the radar socket's kernel buffer fills and
//! overflows into `kernel_dropped`). The core acknowledges messages at its checkpoints, once
//! its sinks have synced what came before, and its sinks continue their files idempotently by
//! id (see [`crate::pipeline::sinks::continuation`]; dead letters by their `dead_letter_id`):
//! after a `kill -9` of the core, what it had not acknowledged is delivered again, and what it
//! had already written is skipped.

mod topology;
mod wire;

use std::time::Duration;

pub use topology::{core_topology, edge_topology};
pub use wire::{CoreCodec, EdgeCodec, Remote};

use sda_orchestrator::nats::JetStreamConfig;

/// The stream's name.
pub const STREAM: &str = "SDA";
/// The stream's subjects.
pub const SUBJECTS: &str = "sda.>";
/// The core's durable consumer.
pub const CONSUMER: &str = "sda-core";
/// The edge's publishing sink, as `/topology` shows it.
pub const PUBLISH_VERTEX: &str = "jetstream_publish";
/// The core's consuming source, as `/topology` shows it.
pub const CONSUME_VERTEX: &str = "jetstream_consume";
/// How often the core takes a checkpoint, and so acknowledges the stream.
pub const CORE_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// Messages the core may hold unacknowledged: what arrives in a checkpoint interval, with room
/// (it bounds the core at 65,536 per 250 ms).
pub const CORE_MAX_ACK_PENDING: i64 = 16_384;
/// The folder, inside `--out`, of the core's checkpoints (they serve acknowledgement only: it
/// is emptied at start, since the stream redelivers whatever no checkpoint covered).
pub const CORE_CHECKPOINT_DIR: &str = "core-checkpoints";

/// Which part of the pipeline this process runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The whole pipeline in one process, no broker.
    #[default]
    All,
    /// Sources → normalize → validate → JetStream.
    Edge,
    /// JetStream → dedup → sinks → correlator → alerts.
    Core,
}

/// The JetStream settings of the edge's sink or the core's source at `url`.
pub fn jetstream_config(url: &str) -> JetStreamConfig {
    JetStreamConfig::new(url, STREAM, [SUBJECTS])
        .with_consumer(CONSUMER)
        .with_max_ack_pending(CORE_MAX_ACK_PENDING)
        .with_ack_wait(Duration::from_secs(10))
        // A broker that does not answer within a second is treated as down: retried, and after
        // five such rounds in 30 s the breaker opens.
        .with_publish_timeout(Duration::from_secs(1))
}
