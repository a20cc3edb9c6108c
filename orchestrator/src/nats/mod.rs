//! NATS JetStream as a graph's edge to other processes (feature `nats`): a sink that publishes
//! to a stream, and a source that reads a durable consumer of it. With them one pipeline runs
//! as several processes (receivers near the sensors, processing in the centre) with a durable
//! log between them, and several processes on one durable consumer share its work.
//!
//! # Delivery: acknowledged at checkpoints
//!
//! The library has one delivery-guarantee mechanism, [checkpoints](crate::checkpoint), and
//! these vertices use it rather than a second one. [`jetstream_source`] hands each message on
//! with [`Outbox::send_at`](crate::Outbox::send_at), recording how many it has sent as its
//! position, and keeps the message unacknowledged. When a checkpoint completes, every sink that
//! commits at barriers has written (and synced) everything sent before that position, and the
//! source acknowledges those messages to JetStream. A message whose checkpoint never completes
//! (the process was killed, a sink failed) is delivered again by JetStream after `ack_wait`,
//! to this process or another on the same consumer.
//!
//! Why not an acknowledgement token carried by each item, fired by the last sink to write
//! it? It would give acknowledgement but not crash-safe operator state, which needs a
//! consistent cut of every state and every source position anyway: a second mechanism with its
//! own ordering and failure cases. A checkpoint gives both at once, costs per checkpoint rather
//! than per item, and needs no code in operators (a filter that drops an item, a fan-out that
//! copies it, a dedup that counts it: the barrier covers them all). A graph that uses neither
//! pays nothing: no barrier is sent without [`OperatorGraph::with_checkpoints`](crate::OperatorGraph::with_checkpoints).
//!
//! The price: a message is acknowledged up to one checkpoint interval after it is written, so
//! `max_ack_pending` must hold what arrives in an interval (it bounds the throughput at
//! `max_ack_pending / interval`), and `ack_wait` must exceed the interval plus the time through
//! the graph.
//!
//! # The guarantee
//!
//! * **At-least-once into the sinks**: a message is acknowledged only after every committing
//!   sink has it on disk; anything not acknowledged is delivered again.
//! * **Exactly-once output where the sink is idempotent by record id**: a redelivered record
//!   whose id the sink has already written is skipped (or overwrites itself).
//! * **Publishing**: [`jetstream_sink`] counts an item as published only once JetStream has
//!   acknowledged storing it, and retries (without bound, behind a circuit breaker) until it
//!   has. With a [message id](PublishCodec::message_id), a retry after a lost ack is stored
//!   once (within the stream's duplicate window).
//!
//! # Names on the broker
//!
//! Both vertices create the stream when it is absent: [`JetStreamConfig::stream`], file
//! storage, over [`JetStreamConfig::subjects`], with the configured duplicate window. The
//! source creates the durable pull consumer [`JetStreamConfig::consumer`] (explicit ack,
//! `ack_wait`, `max_ack_pending`, optional subject filter) when absent. An existing stream or
//! consumer is used as it is.
//!
//! # Backpressure
//!
//! `max_ack_pending` bounds what a consumer holds unacknowledged, so a slow graph is sent no
//! more than that ahead of its checkpoints. A stream created with
//! [`JetStreamConfig::with_max_backlog`] also bounds what waits in the stream: a full stream
//! refuses publishes, the sink retries and stops receiving, and the publishing graph waits
//! for the consumer. Without it the stream absorbs a consumer that is slow or down.
//!
//! # Metrics
//!
//! `jetstream_published_total{sink}`, `jetstream_publish_failures_total{sink}`,
//! `jetstream_received_total{source}`, `jetstream_acked_total{source}`,
//! `jetstream_decode_failures_total{source}`, `jetstream_consume_errors_total{source}`, and the
//! publisher's `circuit_breaker_state{breaker}` and `retry_attempts_total{operator}` (both
//! labelled with the sink's vertex name).

mod codec;
mod config;
mod connect;
mod error;
mod sink;
mod source;

pub use codec::{ConsumeCodec, FnPublish, PublishCodec, publish_with};
pub use config::JetStreamConfig;
pub use error::NatsError;
pub use sink::jetstream_sink;
pub use source::jetstream_source;

/// Items JetStream acknowledged storing, per sink.
pub const JETSTREAM_PUBLISHED_TOTAL: &str = "jetstream_published_total";
/// Publish attempts that failed or timed out (and were tried again), per sink.
pub const JETSTREAM_PUBLISH_FAILURES_TOTAL: &str = "jetstream_publish_failures_total";
/// Messages a source received from its consumer.
pub const JETSTREAM_RECEIVED_TOTAL: &str = "jetstream_received_total";
/// Messages a source acknowledged (a checkpoint covering them completed).
pub const JETSTREAM_ACKED_TOTAL: &str = "jetstream_acked_total";
/// Messages a source's codec could not decode (terminated, never redelivered).
pub const JETSTREAM_DECODE_FAILURES_TOTAL: &str = "jetstream_decode_failures_total";
/// Pull errors a source's client recovered from (missed heartbeats during an outage).
pub const JETSTREAM_CONSUME_ERRORS_TOTAL: &str = "jetstream_consume_errors_total";
