//! The optical source over HTTP: a poller that walks the archive's pages by cursor.
//!
//! **Protocol.** `GET {base}/observations` returns the first page; `GET
//! {base}/observations?cursor=C` the page after cursor `C` (see [`wire::optical`](sda_ingest_core::wire::optical)
//! for the body). Each page names the `next_cursor` to ask for. A page with no observations
//! whose `next_cursor` is the cursor asked for means "nothing new yet": the poller waits
//! [`OpticalPollerConfig::poll_interval`] and asks again. `next_cursor: null` ends the stream
//! (a finite archive export, or the simulator's last pass): the source finishes.
//!
//! **Failures.** Each request runs inside [`with_retry`] (decorrelated jitter) behind a
//! [`CircuitBreaker`] named `optical_archive`:
//!
//! * connection errors, timeouts, `408`, `429` and `5xx` are transient: retried with backoff,
//!   honouring a `Retry-After` header in seconds; while the breaker is open, attempts fail fast
//!   and wait out its cooldown;
//! * other `4xx` responses are permanent (a wrong URL or credentials): the source fails, and
//!   its restart policy decides (a misconfiguration escalates instead of looping quietly);
//! * when the retry bound runs out during a long outage, the poller logs a warning and starts
//!   a new round of retries from the same cursor: an archive outage never restarts the source
//!   and never skips data.
//!
//! **Bad bodies.** A `200` response whose body is not a page (invalid JSON, or larger than
//! [`MAX_BODY_LEN`] — the body is read in chunks and never buffered beyond that) is handed on
//! as a frame anyway, so `normalize` dead-letters it with the decoder's reason code and it is
//! counted; the poller then asks for the same cursor again after a backoff delay, because
//! without a page it cannot know the next cursor. A persistently corrupt page therefore stalls
//! the optical stream visibly (one dead letter per attempt, the cap bounding the rate) rather
//! than being skipped silently.
//!
//! The cursor survives a restart, so a restarted poller resumes where it stopped. While the
//! source is paused (control plane), the poller sends no requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sda_orchestrator::{
    SourceContext, SourceFactory,
    monitor::metric_names,
    resilience::{
        Backoff, BreakerConfig, BreakerError, CircuitBreaker, OpFailure, RetryBound, RetryError,
        RetryOutcome, RetryPolicy, with_retry,
    },
};
use serde::Deserialize;
use thiserror::Error;

use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::WireFormat;
use sda_ingest_core::wire::optical::MAX_BODY_LEN;

use crate::pipeline::counters::bump;
use crate::pipeline::event_time::SourceClock;
use crate::pipeline::{Counters, RawFrame, Scope, unix_now};

/// Name of the poller's circuit breaker (the `breaker` label of `circuit_breaker_state`).
pub const BREAKER_NAME: &str = "optical_archive";

/// How the optical poller reaches the archive.
#[derive(Debug, Clone)]
pub struct OpticalPollerConfig {
    /// The archive's base URL, e.g. `http://127.0.0.1:8080/`; requests go to `{base}/observations`.
    pub base_url: reqwest::Url,
    /// Wait between polls once the poller has caught up.
    pub poll_interval: Duration,
    /// Limit on one request, connection and body included.
    pub request_timeout: Duration,
    /// Retries of one request (operator label `optical`).
    pub retry: RetryPolicy,
    /// The breaker in front of the archive.
    pub breaker: BreakerConfig,
}

impl OpticalPollerConfig {
    /// Defaults for `base_url`: poll every second when caught up, 2 s per request, retries
    /// from 100 ms up to 5 s apart for at most 60 s per round, and a breaker that opens after 5
    /// failures within 10 s for a 5 s cooldown with one probe.
    pub fn new(base_url: reqwest::Url) -> Self {
        OpticalPollerConfig {
            base_url,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            retry: RetryPolicy::new("optical")
                .base(Duration::from_millis(100))
                .cap(Duration::from_secs(5))
                .max_attempts(u32::MAX)
                .max_elapsed(Duration::from_secs(60)),
            breaker: BreakerConfig {
                failure_threshold: 5,
                window: Duration::from_secs(10),
                cooldown: Duration::from_secs(5),
                half_open_probes: 1,
            },
        }
    }
}

/// Why one archive request failed.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The request could not be sent or its body not read (connection, timeout).
    #[error("archive request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The archive answered with an error status.
    #[error("archive answered {0}")]
    Status(reqwest::StatusCode),
}

/// The archive's answer for one cursor.
#[derive(Debug)]
enum Page {
    /// A decodable page, whether it carries records, and the cursor it names next.
    Good {
        body: Bytes,
        records: bool,
        next: Option<String>,
    },
    /// A `200` whose body is not a page: handed on to be dead-lettered.
    Bad { body: Bytes },
}

/// The optical source: polls the archive at `config.base_url` and hands on one
/// [`RawFrame`] per non-empty page.
///
/// # Errors
///
/// The future fails on a permanent archive error (a `4xx` other than `408`/`429`) or when the
/// HTTP client cannot be built; see the module docs for what is retried instead.
pub fn optical_http(
    config: OpticalPollerConfig,
    clock: SourceClock,
    counters: Arc<Counters>,
) -> impl SourceFactory<RawFrame> {
    let cursor: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let breaker = CircuitBreaker::new(BREAKER_NAME, config.breaker);
    // The series exists from the start, so a dashboard shows 0 retries rather than no data.
    metrics::counter!(metric_names::RETRY_ATTEMPTS_TOTAL, "operator" => config.retry.operator().to_owned())
        .increment(0);
    let name: Arc<str> = Arc::from(SensorKind::Optical.as_str());
    let pages = Arc::new(AtomicU64::new(0));
    move |mut ctx: SourceContext<RawFrame>| {
        let (config, counters, cursor, breaker, name, pages) = (
            config.clone(),
            counters.clone(),
            cursor.clone(),
            breaker.clone(),
            name.clone(),
            pages.clone(),
        );
        let mut clock = clock;
        async move {
            let client = reqwest::Client::builder()
                .timeout(config.request_timeout)
                .connect_timeout(config.request_timeout)
                .build()?;
            let mut bad_backoff: Option<Backoff> = None;
            loop {
                // A paused poller asks the archive for nothing (the gate in `send` would only
                // hold the page it had already fetched).
                if ctx.is_paused() {
                    ctx.resumed().await;
                }
                let asked = cursor
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let fetched = tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    fetched = fetch_with_retry(&client, &config, &breaker, asked.as_deref()) => fetched,
                };
                let page = match fetched {
                    Ok(page) => page,
                    Err(RetryError::Exhausted {
                        last_error,
                        attempts,
                        ..
                    }) => {
                        tracing::warn!(
                            attempts,
                            error = %last_error,
                            "optical archive still unavailable; retrying from the same cursor"
                        );
                        continue;
                    }
                    Err(RetryError::Permanent { last_error, .. }) => {
                        return Err(anyhow::Error::new(last_error)
                            .context("the optical archive refused the request"));
                    }
                };
                let (body, step) = match page {
                    Page::Good {
                        body,
                        records,
                        next,
                    } => {
                        bad_backoff = None;
                        let step = match next {
                            None => Step::Finish,
                            Some(next) if Some(&next) == asked.as_ref() => {
                                Step::Wait(config.poll_interval)
                            }
                            Some(next) => Step::Advance(next),
                        };
                        (records.then_some(body), step)
                    }
                    Page::Bad { body } => {
                        let backoff = bad_backoff.get_or_insert_with(|| config.retry.backoff());
                        tracing::warn!(
                            cursor = asked.as_deref().unwrap_or(""),
                            bytes = body.len(),
                            "the optical archive sent a body that is not a page; \
                             dead-lettering it and asking again"
                        );
                        (Some(body), Step::Wait(backoff.next_delay()))
                    }
                };
                if let Some(bytes) = body {
                    let index = pages.fetch_add(1, Ordering::Relaxed);
                    let frame = RawFrame {
                        source: name.clone(),
                        kind: SensorKind::Optical,
                        format: WireFormat::OpticalPage,
                        pass: 0,
                        index: usize::try_from(index).unwrap_or(usize::MAX),
                        scope: Scope::Live,
                        cursor: Some(Arc::from(asked.as_deref().unwrap_or(""))),
                        bytes,
                        received_at: unix_now(),
                    };
                    let latest = SourceClock::latest_of(std::slice::from_ref(&frame));
                    ctx.output.send(frame).await?;
                    clock.sent(&ctx.output, latest);
                    bump(&counters.source(SensorKind::Optical).frames);
                }
                match step {
                    Step::Finish => return Ok(()),
                    Step::Advance(next) => {
                        *cursor.lock().unwrap_or_else(PoisonError::into_inner) = Some(next);
                    }
                    Step::Wait(wait) => {
                        tokio::select! {
                            () = ctx.shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            }
        }
    }
}

/// What the poller does after handing on a page.
enum Step {
    /// The stream ended (`next_cursor: null`).
    Finish,
    /// Ask for this cursor next, at once.
    Advance(String),
    /// Ask for the same cursor again after this long.
    Wait(Duration),
}

/// One request for `cursor`, retried per `config.retry` behind `breaker`.
async fn fetch_with_retry(
    client: &reqwest::Client,
    config: &OpticalPollerConfig,
    breaker: &CircuitBreaker,
    cursor: Option<&str>,
) -> Result<Page, RetryError<BreakerError<FetchError>>> {
    let outcome = with_retry(&config.retry, |_attempt| {
        breaker.call_classified(|| fetch(client, &config.base_url, cursor))
    })
    .await?;
    match outcome {
        RetryOutcome::Succeeded(page) => Ok(page),
        // `fetch` never discards; treat it as a round that ran out so the caller asks again.
        RetryOutcome::Discarded { reason, attempts } => Err(RetryError::Exhausted {
            last_error: reason,
            attempts,
            bound: RetryBound::MaxAttempts,
        }),
    }
}

/// One request for `cursor`, its failure classified for [`with_retry`].
async fn fetch(
    client: &reqwest::Client,
    base: &reqwest::Url,
    cursor: Option<&str>,
) -> Result<Page, OpFailure<FetchError>> {
    let mut url = base
        .join("observations")
        .map_err(|_| OpFailure::permanent(FetchError::Status(reqwest::StatusCode::BAD_REQUEST)))?;
    if let Some(cursor) = cursor {
        url.query_pairs_mut().append_pair("cursor", cursor);
    }
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| OpFailure::retry(FetchError::Transport(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(classify_status(&response));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OpFailure::retry(FetchError::Transport(e)))?
    {
        // Keep one byte past the maximum so the decoder reports the body as too large, and stop
        // reading: nothing the archive sends is buffered beyond that.
        let room = (MAX_BODY_LEN + 1).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() > MAX_BODY_LEN {
            break;
        }
    }
    let body = body.freeze();
    Ok(match envelope(&body) {
        Some(page) => Page::Good {
            body,
            records: !page.observations.is_empty(),
            next: page.next_cursor,
        },
        None => Page::Bad { body },
    })
}

/// A page's outline: its records left unparsed (`normalize` decodes them), its cursor read.
#[derive(Deserialize)]
struct Envelope {
    observations: Vec<serde::de::IgnoredAny>,
    next_cursor: Option<String>,
}

/// The outline of a body that is a page, `None` if it is not one.
fn envelope(body: &[u8]) -> Option<Envelope> {
    if body.len() > MAX_BODY_LEN {
        return None;
    }
    serde_json::from_slice(body).ok()
}

fn classify_status(response: &reqwest::Response) -> OpFailure<FetchError> {
    let status = response.status();
    let error = FetchError::Status(status);
    let transient = status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    if !transient {
        return OpFailure::permanent(error);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match retry_after {
        Some(after) => OpFailure::retry(error).with_retry_after(after),
        None => OpFailure::retry(error),
    }
}
