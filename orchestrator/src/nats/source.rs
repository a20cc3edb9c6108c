//! `jetstream_source`: a durable pull consumer acknowledged as checkpoints complete.

use std::collections::VecDeque;
use std::sync::Arc;

use async_nats::jetstream::{AckKind, consumer::pull, message::Acker};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::codec::ConsumeCodec;
use super::config::JetStreamConfig;
use super::connect::{close, connect, ensure_stream};
use super::error::NatsError;
use super::{
    JETSTREAM_ACKED_TOTAL, JETSTREAM_CONSUME_ERRORS_TOTAL, JETSTREAM_DECODE_FAILURES_TOTAL,
    JETSTREAM_RECEIVED_TOTAL,
};
use crate::{SourceContext, SourceFactory};

/// The position a JetStream source records with each send: which incarnation of the source
/// sent it, and how many messages that incarnation had sent with it. A checkpoint that
/// completes with this position covers the first `sent` messages of that incarnation; other
/// incarnations' positions (a checkpoint restored from an earlier process) cover nothing this
/// one holds, since JetStream redelivers what they had not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    incarnation: u64,
    sent: u64,
}

/// A source that reads the durable pull consumer of `config` (see the [module docs](super)),
/// creating the stream and the consumer when absent, and hands each message on as the item
/// `codec` decodes from it.
///
/// Messages are acknowledged to JetStream only when a checkpoint that covers them completes:
/// the graph must take checkpoints ([`OperatorGraph::with_checkpoints`]), else nothing is ever
/// acknowledged, the consumer stops at `max_ack_pending`, and JetStream redelivers after
/// `ack_wait`. A message the codec cannot decode is terminated (never redelivered), counted
/// in `jetstream_decode_failures_total{source}` and logged.
///
/// Counts `jetstream_received_total{source}`, `jetstream_acked_total{source}` and
/// `jetstream_consume_errors_total{source}` (pull errors the client recovers from, such as
/// missed heartbeats during a broker outage).
///
/// [`OperatorGraph::with_checkpoints`]: crate::OperatorGraph::with_checkpoints
pub fn jetstream_source<T, C>(config: JetStreamConfig, codec: C) -> impl SourceFactory<T>
where
    T: crate::Message,
    C: ConsumeCodec<T>,
{
    let codec = Arc::new(codec);
    move |mut ctx: SourceContext<T>| {
        let (config, codec) = (config.clone(), Arc::clone(&codec));
        async move {
            let name = ctx.name().to_owned();
            let (client, context) = connect(&config, &name).await?;
            let Some(stream) = ensure_stream(&context, &config, &name, &ctx.shutdown).await? else {
                close(&client).await;
                return Ok(());
            };
            let consumer_config = pull::Config {
                durable_name: Some(config.consumer.clone()),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_ack_pending: config.max_ack_pending,
                filter_subject: config.filter_subject.clone().unwrap_or_default(),
                ..Default::default()
            };
            let setup = |e: &dyn std::fmt::Display| NatsError::Setup {
                what: format!("consumer `{}`", config.consumer),
                reason: e.to_string(),
            };
            let consumer: async_nats::jetstream::consumer::Consumer<pull::Config> = stream
                .get_or_create_consumer(&config.consumer, consumer_config)
                .await
                .map_err(|e| setup(&e))?;
            let mut messages = consumer
                .stream()
                .max_messages_per_batch(config.pull_batch.min(config.max_ack_pending as usize))
                .messages()
                .await
                .map_err(|e| setup(&e))?;
            let received = metrics::counter!(JETSTREAM_RECEIVED_TOTAL, "source" => name.clone());
            let acked = metrics::counter!(JETSTREAM_ACKED_TOTAL, "source" => name.clone());
            let decode_failures =
                metrics::counter!(JETSTREAM_DECODE_FAILURES_TOTAL, "source" => name.clone());
            let consume_errors =
                metrics::counter!(JETSTREAM_CONSUME_ERRORS_TOTAL, "source" => name.clone());
            let incarnation = fastrand::u64(..);
            let mut sent: u64 = 0;
            let mut unacked: VecDeque<(u64, Acker)> = VecDeque::new();
            let mut completed = ctx.completed_checkpoints::<Position>();
            loop {
                tokio::select! {
                    biased;
                    () = ctx.shutdown.cancelled() => {
                        tracing::info!(
                            source = %name,
                            unacknowledged = unacked.len(),
                            "stopping; JetStream redelivers what no checkpoint covered"
                        );
                        close(&client).await;
                        return Ok(());
                    }
                    done = completed.next() => {
                        let done = match done {
                            Ok(done) => done,
                            Err(e) => {
                                tracing::warn!(source = %name, error = %e, "completed checkpoints unavailable");
                                continue;
                            }
                        };
                        let Some(position) = done.position.filter(|p| p.incarnation == incarnation) else {
                            continue;
                        };
                        while unacked.front().is_some_and(|(n, _)| *n <= position.sent) {
                            if let Some((_, acker)) = unacked.pop_front() {
                                // A lost ack is redelivered after `ack_wait`: at least once.
                                if let Err(e) = acker.ack().await {
                                    tracing::warn!(source = %name, error = %e, "ack failed; the message will be redelivered");
                                } else {
                                    acked.increment(1);
                                }
                            }
                        }
                    }
                    next = messages.next() => match next {
                        Some(Ok(message)) => {
                            received.increment(1);
                            let (message, acker) = message.split();
                            match codec.decode(message.subject.as_str(), &message.payload) {
                                Ok(item) => {
                                    sent += 1;
                                    unacked.push_back((sent, acker));
                                    ctx.output
                                        .send_at(item, Position { incarnation, sent })
                                        .await?;
                                }
                                Err(reason) => {
                                    decode_failures.increment(1);
                                    tracing::warn!(
                                        source = %name,
                                        subject = %message.subject,
                                        %reason,
                                        "undecodable message terminated"
                                    );
                                    if let Err(e) = acker.ack_with(AckKind::Term).await {
                                        tracing::warn!(source = %name, error = %e, "term failed; the message will be redelivered");
                                    }
                                }
                            }
                        }
                        Some(Err(e)) => {
                            consume_errors.increment(1);
                            tracing::warn!(source = %name, error = %e, "JetStream pull error; the client retries");
                        }
                        None => {
                            return Err(NatsError::Consume {
                                consumer: config.consumer.clone(),
                                reason: "the message stream ended".to_owned(),
                            }
                            .into());
                        }
                    },
                }
            }
        }
    }
}
