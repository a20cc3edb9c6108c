//! `jetstream_sink`: publish each item, wait for JetStream's ack, retry through an outage.

use std::sync::{Arc, Mutex, PoisonError};

use async_nats::jetstream::{self, context::Publish};
use bytes::Bytes;
use futures::future::join_all;

use super::codec::PublishCodec;
use super::config::JetStreamConfig;
use super::connect::{close, connect, ensure_stream};
use super::error::NatsError;
use super::{JETSTREAM_PUBLISH_FAILURES_TOTAL, JETSTREAM_PUBLISHED_TOTAL};
use crate::resilience::{CircuitBreaker, OpFailure, RetryPolicy, with_retry};
use crate::{InputEvent, SinkContext, SinkFactory};

/// One item ready to publish.
struct Prepared<T> {
    item: T,
    subject: String,
    payload: Bytes,
    id: Option<String>,
}

/// A sink that publishes every item it receives to JetStream (see the [module
/// docs](super)): on the subject `codec` computes for it, with `codec`'s message id, and
/// waits for JetStream's ack before it takes the next batch.
///
/// A publish that fails or times out is tried again, under the vertex's
/// [`CircuitBreaker`] (named after the vertex, gauge `circuit_breaker_state{breaker}`) and
/// [`with_retry`] (`retry_attempts_total{operator}` with the vertex's name), with no bound on
/// attempts: while the broker is down the sink holds its batch and stops receiving, so its
/// input edge fills and backpressure reaches the sources. Nothing is dropped. During shutdown
/// the graph's drain deadline bounds the wait; what is then still unpublished is counted by
/// the graph as dropped with the sink.
///
/// A checkpoint barrier is committed once everything received before it is acknowledged by
/// JetStream, so a checkpoint covers only what the stream stores.
///
/// Counts `jetstream_published_total{sink}` (items JetStream acknowledged) and
/// `jetstream_publish_failures_total{sink}` (failed publish attempts).
pub fn jetstream_sink<T, C>(config: JetStreamConfig, codec: C) -> impl SinkFactory<T>
where
    T: crate::Message,
    C: PublishCodec<T>,
{
    let codec = Arc::new(codec);
    let mut breaker: Option<CircuitBreaker> = None;
    move |mut ctx: SinkContext<T>| {
        let (config, codec) = (config.clone(), Arc::clone(&codec));
        let name = ctx.name().to_owned();
        // One breaker across restarts of the vertex: an outage is one outage.
        let breaker = breaker
            .get_or_insert_with(|| CircuitBreaker::new(name.clone(), config.breaker))
            .clone();
        async move {
            let (client, context) = connect(&config, &name).await?;
            if ensure_stream(&context, &config, &name, &ctx.shutdown)
                .await?
                .is_none()
            {
                close(&client).await;
                return Ok(());
            }
            let policy = RetryPolicy::new(name.clone())
                .max_attempts(u32::MAX)
                .base(config.retry_base)
                .cap(config.retry_cap);
            let published = metrics::counter!(JETSTREAM_PUBLISHED_TOTAL, "sink" => name.clone());
            let failures =
                metrics::counter!(JETSTREAM_PUBLISH_FAILURES_TOTAL, "sink" => name.clone());
            let mut items = Vec::with_capacity(config.publish_batch);
            while let Some(event) = ctx
                .input
                .recv_many_event(&mut items, config.publish_batch)
                .await
            {
                match event {
                    InputEvent::Item(_) => {
                        let mut batch = Vec::with_capacity(items.len());
                        for item in items.drain(..) {
                            let subject = codec.subject(&item);
                            let payload =
                                codec.encode(&item).map_err(|reason| NatsError::Encode {
                                    subject: subject.clone(),
                                    reason,
                                })?;
                            let id = codec.message_id(&item);
                            batch.push(Prepared {
                                item,
                                subject,
                                payload,
                                id,
                            });
                        }
                        let pending = Mutex::new(batch);
                        let outcome = with_retry(&policy, |_| {
                            breaker.call_classified(|| {
                                publish_round(
                                    &context,
                                    &pending,
                                    codec.as_ref(),
                                    &published,
                                    &failures,
                                )
                            })
                        })
                        .await;
                        if let Err(e) = outcome {
                            // Unreachable with unbounded attempts; said plainly if it happens.
                            anyhow::bail!("publishing to JetStream gave up: {}", e.last_error());
                        }
                    }
                    InputEvent::Checkpoint(token) => token.commit(),
                    InputEvent::Watermark(_) => {}
                }
            }
            close(&client).await;
            Ok(())
        }
    }
}

/// Publishes every item of `pending`, awaits their acks together, and leaves in `pending` only
/// the items that were not acknowledged: a transient failure when there are any.
async fn publish_round<T, C: PublishCodec<T> + ?Sized>(
    context: &jetstream::Context,
    pending: &Mutex<Vec<Prepared<T>>>,
    codec: &C,
    published: &metrics::Counter,
    failures: &metrics::Counter,
) -> Result<(), OpFailure<String>> {
    let batch = std::mem::take(&mut *pending.lock().unwrap_or_else(PoisonError::into_inner));
    let mut acks = Vec::with_capacity(batch.len());
    // Built before the first await, so no borrow of the batch is held across one (items need
    // not be Sync).
    let requests: Vec<(String, Publish)> = batch
        .iter()
        .map(|prepared| {
            let mut publish = Publish::build().payload(prepared.payload.clone());
            if let Some(id) = &prepared.id {
                publish = publish.message_id(id);
            }
            (prepared.subject.clone(), publish)
        })
        .collect();
    for (subject, publish) in requests {
        acks.push(context.send_publish(subject, publish).await);
    }
    let acks = join_all(acks.into_iter().map(|sent| async move {
        match sent {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }))
    .await;
    let mut failed = Vec::new();
    let mut last_error = None;
    for (prepared, ack) in batch.into_iter().zip(acks) {
        match ack {
            Ok(()) => {
                published.increment(1);
                codec.published(&prepared.item);
            }
            Err(e) => {
                failures.increment(1);
                last_error = Some(e);
                failed.push(prepared);
            }
        }
    }
    match last_error {
        None => Ok(()),
        Some(error) => {
            tracing::warn!(unacknowledged = failed.len(), %error, "JetStream publish failed; retrying");
            *pending.lock().unwrap_or_else(PoisonError::into_inner) = failed;
            Err(OpFailure::retry(error))
        }
    }
}
