//! Downloading a catalog: one HTTP GET, retried with decorrelated jitter behind a circuit
//! breaker, as the optical poller does, with the body bounded.

use std::hash::{BuildHasher as _, Hasher as _};

use sda_orchestrator::resilience::{
    CircuitBreaker, OpFailure, RetryError, RetryOutcome, with_retry,
};
use thiserror::Error;

use super::CatalogFeed;

/// Name of the catalog download's circuit breaker (the `breaker` label of
/// `circuit_breaker_state`).
pub const FETCH_BREAKER: &str = "catalog_source";

/// The largest catalog file or download accepted, bytes: a full public catalog is about 5 MB
/// as 3LE and 25 MB as OMM JSON, so this leaves room for growth while bounding what a faulty
/// server can make the service hold.
pub const MAX_CATALOG_BYTES: usize = 256 * 1024 * 1024;

/// Why one download attempt failed.
#[derive(Debug, Error)]
pub(super) enum FetchError {
    /// The request could not be sent or its body not read (connection, timeout).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("server answered {0}")]
    Status(reqwest::StatusCode),
    /// The body is larger than [`MAX_CATALOG_BYTES`].
    #[error("body larger than {MAX_CATALOG_BYTES} bytes")]
    TooLarge,
}

/// The HTTP client of the feed's downloads.
pub(super) fn client(feed: &CatalogFeed) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(feed.request_timeout)
        .connect_timeout(feed.request_timeout)
        .build()
}

/// Downloads `url` within one round of `feed.retry` behind `breaker`; the error says why the
/// last attempt failed.
pub(super) async fn download(
    client: &reqwest::Client,
    feed: &CatalogFeed,
    breaker: &CircuitBreaker,
    url: &reqwest::Url,
) -> Result<Vec<u8>, String> {
    let outcome = with_retry(&feed.retry, |_attempt| {
        breaker.call_classified(|| get(client, url))
    })
    .await;
    match outcome {
        Ok(RetryOutcome::Succeeded(bytes)) => Ok(bytes),
        Ok(RetryOutcome::Discarded { reason, .. }) => Err(reason.to_string()),
        Err(RetryError::Exhausted {
            last_error,
            attempts,
            ..
        }) => Err(format!("{last_error} (after {attempts} attempts)")),
        Err(RetryError::Permanent { last_error, .. }) => Err(last_error.to_string()),
    }
}

/// One GET of `url`, its failure classified for [`with_retry`]: connection errors, timeouts,
/// `408`, `429` and `5xx` are worth another attempt; other statuses and an oversized body are
/// not.
async fn get(
    client: &reqwest::Client,
    url: &reqwest::Url,
) -> Result<Vec<u8>, OpFailure<FetchError>> {
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| OpFailure::retry(FetchError::Transport(e)))?;
    let status = response.status();
    if !status.is_success() {
        let transient = status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        let error = FetchError::Status(status);
        return Err(if transient {
            OpFailure::retry(error)
        } else {
            OpFailure::permanent(error)
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OpFailure::retry(FetchError::Transport(e)))?
    {
        if body.len() + chunk.len() > MAX_CATALOG_BYTES {
            return Err(OpFailure::permanent(FetchError::TooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A fingerprint of a download, to tell an unchanged catalog without parsing it again.
pub(super) fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = foldhash::quality::FixedState::with_seed(0x5da_ca7a).build_hasher();
    hasher.write(bytes);
    hasher.finish()
}
