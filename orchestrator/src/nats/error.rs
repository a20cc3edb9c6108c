//! What can go wrong talking to JetStream.

/// Why a JetStream vertex failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The client could not be set up (a malformed URL or options).
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The server URL.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The stream or the consumer could not be created or looked up.
    #[error("cannot set up JetStream {what}: {reason}")]
    Setup {
        /// Which stream or consumer.
        what: String,
        /// What the server said.
        reason: String,
    },
    /// The codec could not encode an item: it can never be published, so the sink stops
    /// rather than drop it.
    #[error("cannot encode an item for {subject}: {reason}")]
    Encode {
        /// The subject it was meant for.
        subject: String,
        /// What the codec said.
        reason: String,
    },
    /// The consumer's message stream failed for good.
    #[error("the JetStream consumer `{consumer}` failed: {reason}")]
    Consume {
        /// The consumer.
        consumer: String,
        /// What the client said.
        reason: String,
    },
}
