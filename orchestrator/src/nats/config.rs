//! Where the broker is and how the stream, the durable consumer and the publisher behave.

use std::time::Duration;

use crate::resilience::BreakerConfig;

/// How a [`jetstream_sink`](super::jetstream_sink) or
/// [`jetstream_source`](super::jetstream_source) reaches JetStream.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::nats::JetStreamConfig;
///
/// let config = JetStreamConfig::new("nats://127.0.0.1:4222", "SDA", ["sda.>"])
///     .with_consumer("sda-core")
///     .with_max_ack_pending(4_096)
///     .with_ack_wait(Duration::from_secs(60));
/// assert_eq!(config.stream(), "SDA");
/// assert_eq!(config.consumer(), "sda-core");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JetStreamConfig {
    pub(crate) url: String,
    pub(crate) stream: String,
    pub(crate) subjects: Vec<String>,
    pub(crate) consumer: String,
    pub(crate) filter_subject: Option<String>,
    pub(crate) ack_wait: Duration,
    pub(crate) max_ack_pending: i64,
    pub(crate) pull_batch: usize,
    pub(crate) publish_timeout: Duration,
    pub(crate) publish_batch: usize,
    pub(crate) duplicate_window: Duration,
    pub(crate) max_backlog: Option<i64>,
    pub(crate) breaker: BreakerConfig,
    pub(crate) retry_base: Duration,
    pub(crate) retry_cap: Duration,
}

impl JetStreamConfig {
    /// The server at `url`, the stream `stream` (created, file-backed, over `subjects` when
    /// absent), the durable consumer `{stream}-consumer`, 30 s `ack_wait`, 1024
    /// `max_ack_pending`, a 5 s publish timeout, a 2 min de-duplication window, and a breaker
    /// that opens after 5 failed publish rounds in 30 s for 2 s.
    pub fn new<S: Into<String>>(
        url: impl Into<String>,
        stream: impl Into<String>,
        subjects: impl IntoIterator<Item = S>,
    ) -> Self {
        let stream = stream.into();
        JetStreamConfig {
            url: url.into(),
            consumer: format!("{stream}-consumer"),
            stream,
            subjects: subjects.into_iter().map(Into::into).collect(),
            filter_subject: None,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1024,
            pull_batch: 256,
            publish_timeout: Duration::from_secs(5),
            publish_batch: 256,
            duplicate_window: Duration::from_secs(120),
            max_backlog: None,
            breaker: BreakerConfig {
                failure_threshold: 5,
                window: Duration::from_secs(30),
                cooldown: Duration::from_secs(2),
                half_open_probes: 1,
            },
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(2),
        }
    }

    /// The durable consumer's name. Every source with the same name shares one consumer:
    /// JetStream hands each message to one of them (horizontal scale-out).
    pub fn with_consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = consumer.into();
        self
    }

    /// Only messages on subjects matching `filter` reach the consumer (set when it is created).
    pub fn with_filter_subject(mut self, filter: impl Into<String>) -> Self {
        self.filter_subject = Some(filter.into());
        self
    }

    /// How long JetStream waits for a message's ack before it delivers the message again. It
    /// must exceed the checkpoint interval plus the time a message takes through the graph,
    /// or messages are redelivered while still in flight (harmless for idempotent sinks,
    /// wasteful otherwise).
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// At most this many messages are delivered and not yet acknowledged (at least 1): the
    /// bound on what a source holds between checkpoints, so it is also the backpressure on
    /// the stream: a consumer that falls behind stops being sent messages.
    pub fn with_max_ack_pending(mut self, max_ack_pending: i64) -> Self {
        self.max_ack_pending = max_ack_pending.max(1);
        self
    }

    /// Messages asked for per pull request (at least 1).
    pub fn with_pull_batch(mut self, batch: usize) -> Self {
        self.pull_batch = batch.max(1);
        self
    }

    /// How long a publish waits for JetStream's ack before it counts as failed (and is tried
    /// again).
    pub fn with_publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Items published at once, their acks awaited together (at least 1).
    pub fn with_publish_batch(mut self, batch: usize) -> Self {
        self.publish_batch = batch.max(1);
        self
    }

    /// The stream's de-duplication window (set when it is created): a message published again
    /// with the same message id within it is stored once.
    pub fn with_duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// Bounds the stream to `messages` not yet acknowledged (set when it is created): the
    /// stream becomes a work queue (a message is removed once its consumer acknowledges it),
    /// and a publish to a full stream is refused, so the publisher retries and waits: a slow
    /// consumer then slows the publisher down, end to end. Without it (the default) the
    /// stream keeps everything (within the server's limits) and absorbs a consumer that is
    /// slow or down.
    pub fn with_max_backlog(mut self, messages: i64) -> Self {
        self.max_backlog = Some(messages.max(1));
        self
    }

    /// The publisher's circuit breaker.
    pub fn with_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    /// The publisher's backoff between retries: from `base`, never above `cap`.
    pub fn with_retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry_base = base;
        self.retry_cap = cap;
        self
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The stream's subjects.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// The durable consumer's name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The ack wait.
    pub fn ack_wait(&self) -> Duration {
        self.ack_wait
    }

    /// The bound on unacknowledged messages.
    pub fn max_ack_pending(&self) -> i64 {
        self.max_ack_pending
    }
}
