//! How items become messages and messages items.

use bytes::Bytes;

/// How a [`jetstream_sink`](super::jetstream_sink) publishes an item: its subject, its
/// payload, its message id, and what to do once JetStream has it.
pub trait PublishCodec<T>: Send + Sync + 'static {
    /// The subject to publish `item` on (e.g. `sda.obs.{sensor}`): it must match one of the
    /// stream's subjects.
    fn subject(&self, item: &T) -> String;

    /// The payload.
    ///
    /// # Errors
    ///
    /// The item cannot be encoded: the sink stops with [`NatsError::Encode`](super::NatsError)
    /// rather than drop it.
    fn encode(&self, item: &T) -> Result<Bytes, String>;

    /// The message id (header `Nats-Msg-Id`): JetStream stores a message published twice with
    /// the same id within the stream's duplicate window once, so a publish retried after a
    /// lost ack is not stored twice. `None` (the default): no id.
    fn message_id(&self, _item: &T) -> Option<String> {
        None
    }

    /// Called once JetStream has acknowledged `item` (it is stored): where a caller counts
    /// what was published.
    fn published(&self, _item: &T) {}
}

/// How a [`jetstream_source`](super::jetstream_source) turns a message into an item.
pub trait ConsumeCodec<T>: Send + Sync + 'static {
    /// The item of a message on `subject` with `payload`.
    ///
    /// # Errors
    ///
    /// The payload is not an item. The source then terminates the message (JetStream never
    /// delivers it again), counts it in `jetstream_decode_failures_total{source}` and logs
    /// it. A codec that wants failures to go on through the graph (to be dead-lettered)
    /// returns `Ok` with an item that says so instead.
    fn decode(&self, subject: &str, payload: &[u8]) -> Result<T, String>;
}

/// A codec from two closures: `subject` and `encode` for a sink.
pub struct FnPublish<S, E> {
    subject: S,
    encode: E,
}

impl<S, E> std::fmt::Debug for FnPublish<S, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnPublish").finish_non_exhaustive()
    }
}

/// A [`PublishCodec`] from a subject closure and an encoding closure.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::nats::{PublishCodec, publish_with};
///
/// let codec = publish_with(
///     |n: &u64| format!("numbers.{}", n % 4),
///     |n: &u64| Ok(n.to_string().into()),
/// );
/// assert_eq!(codec.subject(&7), "numbers.3");
/// ```
pub fn publish_with<T, S, E>(subject: S, encode: E) -> FnPublish<S, E>
where
    S: Fn(&T) -> String + Send + Sync + 'static,
    E: Fn(&T) -> Result<Bytes, String> + Send + Sync + 'static,
{
    FnPublish { subject, encode }
}

impl<T, S, E> PublishCodec<T> for FnPublish<S, E>
where
    S: Fn(&T) -> String + Send + Sync + 'static,
    E: Fn(&T) -> Result<Bytes, String> + Send + Sync + 'static,
{
    fn subject(&self, item: &T) -> String {
        (self.subject)(item)
    }

    fn encode(&self, item: &T) -> Result<Bytes, String> {
        (self.encode)(item)
    }
}

impl<T, F> ConsumeCodec<T> for F
where
    F: Fn(&str, &[u8]) -> Result<T, String> + Send + Sync + 'static,
{
    fn decode(&self, subject: &str, payload: &[u8]) -> Result<T, String> {
        self(subject, payload)
    }
}
