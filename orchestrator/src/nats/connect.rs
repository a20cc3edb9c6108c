//! Connecting, and creating the stream when it is absent, riding out a broker that is not up
//! yet.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio_util::sync::CancellationToken;

use super::config::JetStreamConfig;
use super::error::NatsError;
use crate::resilience::{OpFailure, RetryPolicy, with_retry};

/// A client that keeps reconnecting (also on its first connect): a broker that is down when
/// the vertex starts, or goes down later, is waited for.
pub(crate) async fn connect(
    config: &JetStreamConfig,
    name: &str,
) -> Result<(async_nats::Client, jetstream::Context), NatsError> {
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempt| {
            // 50 ms doubling to 1 s: a restarted broker is found within a second.
            Duration::from_millis(50u64.saturating_mul(1 << attempt.min(5)))
                .min(Duration::from_secs(1))
        })
        .connect(config.url.as_str())
        .await
        .map_err(|e| NatsError::Connect {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
    let mut context = jetstream::new(client.clone());
    context.set_timeout(config.publish_timeout);
    Ok((client, context))
}

/// Closes the connection, so that its background task ends with the vertex instead of
/// outliving it (a process would wait for it at exit). Bounded: a broker that is down gets a
/// second.
pub(crate) async fn close(client: &async_nats::Client) {
    let _ = tokio::time::timeout(Duration::from_secs(1), client.drain()).await;
}

/// The stream, created (file-backed, over the configured subjects) when absent; tried until it
/// succeeds or `shutdown` is cancelled (then `None`).
pub(crate) async fn ensure_stream(
    context: &jetstream::Context,
    config: &JetStreamConfig,
    name: &str,
    shutdown: &CancellationToken,
) -> Result<Option<stream::Stream>, NatsError> {
    let mut stream_config = stream::Config {
        name: config.stream.clone(),
        subjects: config.subjects.clone(),
        storage: stream::StorageType::File,
        duplicate_window: config.duplicate_window,
        ..Default::default()
    };
    if let Some(backlog) = config.max_backlog {
        stream_config.retention = stream::RetentionPolicy::WorkQueue;
        stream_config.max_messages = backlog;
        stream_config.discard = stream::DiscardPolicy::New;
    }
    let policy = RetryPolicy::new(format!("{name}:setup"))
        .max_attempts(u32::MAX)
        .base(config.retry_base)
        .cap(config.retry_cap);
    let attempt = with_retry(&policy, |_| {
        let stream_config = stream_config.clone();
        async move {
            context
                .get_or_create_stream(stream_config)
                .await
                .map_err(|e| {
                    tracing::warn!(vertex = name, error = %e, "JetStream stream not ready; retrying");
                    OpFailure::retry(e)
                })
        }
    });
    tokio::select! {
        () = shutdown.cancelled() => Ok(None),
        result = attempt => result.map(|outcome| outcome.into_value()).map_err(|e| NatsError::Setup {
            what: format!("stream `{}`", config.stream),
            reason: e.last_error().to_string(),
        }),
    }
}
