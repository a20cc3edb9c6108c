//! Reading a catalog file or download and checking it, element set by element set.

use std::path::Path;

use sda_ingest_core::orbit::elements::{self, LoadError, Reject};
use sda_orchestrator::resilience::PoolError;
use thiserror::Error;

use super::{ActiveCatalog, CatalogOrigin, LISTED_REJECTS, MAX_CATALOG_BYTES};
use crate::pipeline::operators::PropagatorRuntime;

/// Why a catalog could not be used.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read catalog {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file or download is larger than [`MAX_CATALOG_BYTES`].
    #[error("catalog from {origin} is larger than {MAX_CATALOG_BYTES} bytes")]
    TooLarge {
        /// Where it came from.
        origin: CatalogOrigin,
    },
    /// The file or download is not UTF-8 text.
    #[error("catalog from {origin} is not UTF-8 text")]
    NotText {
        /// Where it came from.
        origin: CatalogOrigin,
    },
    /// The download failed (after its retries).
    #[error("cannot download the catalog from {origin}: {reason}")]
    Fetch {
        /// Where it came from.
        origin: CatalogOrigin,
        /// The last failure.
        reason: String,
    },
    /// The text holds no usable element set.
    #[error("catalog from {origin}: {}", describe(.source))]
    Unusable {
        /// Where it came from.
        origin: CatalogOrigin,
        /// What the loader found.
        source: LoadError,
    },
    /// The propagator pool could not run the check.
    #[error("cannot check the catalog on the propagator pool: {0}")]
    Pool(#[from] PoolError),
}

impl CatalogError {
    /// A stable snake_case code for logs: `read`, `too_large`, `not_text`, `fetch`, the
    /// loader's code (`empty`, `nothing_usable`, `json_syntax`), or `pool`.
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::Read { .. } => "read",
            CatalogError::TooLarge { .. } => "too_large",
            CatalogError::NotText { .. } => "not_text",
            CatalogError::Fetch { .. } => "fetch",
            CatalogError::Unusable { source, .. } => source.code(),
            CatalogError::Pool(_) => "pool",
        }
    }
}

/// The loader's error, with the first rejected element sets when every one was rejected, so
/// the message says what is wrong with the file and where.
fn describe(error: &LoadError) -> String {
    match error {
        LoadError::NothingUsable { rejects } => {
            let first: Vec<String> = rejects.iter().take(3).map(reject_text).collect();
            format!("{error} (first: {})", first.join("; "))
        }
        other => other.to_string(),
    }
}

fn reject_text(r: &Reject) -> String {
    format!("{}: {} ({})", r.at, r.message(), r.code())
}

/// Reads the catalog file at `path` and checks it on `runtime` (the propagator pool: parsing
/// and initialising SGP4 for tens of thousands of objects takes a second of CPU that must not
/// be the ingest path's), as generation `generation`; also returns the fingerprint of its
/// bytes, which the `catalog` source compares later reads with.
///
/// # Errors
///
/// [`CatalogError`]: the file cannot be read, is too large or not text, or holds no usable
/// element set.
pub async fn read_catalog(
    path: &Path,
    generation: u64,
    runtime: &PropagatorRuntime,
) -> Result<(ActiveCatalog, u64), CatalogError> {
    let origin = CatalogOrigin::File(path.to_owned());
    let read = |source| CatalogError::Read {
        path: path.to_owned(),
        source,
    };
    let size = tokio::fs::metadata(path).await.map_err(read)?.len();
    if size > MAX_CATALOG_BYTES as u64 {
        return Err(CatalogError::TooLarge { origin });
    }
    let (bytes, digest) = read_with_digest(path).await.map_err(read)?;
    Ok((check(bytes, origin, generation, runtime).await?, digest))
}

/// Checks a downloaded catalog (see [`fetch`](super::fetch)) on `runtime`.
///
/// # Errors
///
/// As [`read_catalog`], for the bytes given.
pub(super) async fn check(
    bytes: Vec<u8>,
    origin: CatalogOrigin,
    generation: u64,
    runtime: &PropagatorRuntime,
) -> Result<ActiveCatalog, CatalogError> {
    if bytes.len() > MAX_CATALOG_BYTES {
        return Err(CatalogError::TooLarge { origin });
    }
    let text = String::from_utf8(bytes).map_err(|_| CatalogError::NotText {
        origin: origin.clone(),
    })?;
    runtime
        .run(move || parse(&text, origin, generation))
        .await?
}

/// Parses and checks `text`, synchronously.
fn parse(
    text: &str,
    origin: CatalogOrigin,
    generation: u64,
) -> Result<ActiveCatalog, CatalogError> {
    match elements::load(text) {
        Ok(loaded) => Ok(ActiveCatalog::from_loaded(generation, &loaded, origin)),
        Err(source) => Err(CatalogError::Unusable { origin, source }),
    }
}

/// Downloads the catalog at `url` (with `feed`'s retries and breaker) and checks it: the
/// start-up load of `--catalog-url`. Also returns the fingerprint of the download.
///
/// # Errors
///
/// As [`read_catalog`], and [`CatalogError::Fetch`] when the download fails.
pub async fn fetch_catalog(
    feed: &super::CatalogFeed,
    url: &reqwest::Url,
    generation: u64,
    runtime: &PropagatorRuntime,
) -> Result<(ActiveCatalog, u64), CatalogError> {
    let origin = CatalogOrigin::url(url);
    let fetch_error = |reason: String| CatalogError::Fetch {
        origin: origin.clone(),
        reason,
    };
    let client = super::fetch::client(feed).map_err(|e| fetch_error(e.to_string()))?;
    let bytes = super::fetch::download(&client, feed, &feed.breaker(), url)
        .await
        .map_err(fetch_error)?;
    let (bytes, digest) = with_digest(bytes).await;
    Ok((check(bytes, origin, generation, runtime).await?, digest))
}

/// Reads the file at `path` and fingerprints it on a blocking thread: megabytes are neither
/// read nor hashed on the I/O runtime.
pub(super) async fn read_with_digest(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(path)?;
        let digest = super::fetch::digest(&bytes);
        Ok((bytes, digest))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Fingerprints a download on a blocking thread, off the I/O runtime.
pub(super) async fn with_digest(bytes: Vec<u8>) -> (Vec<u8>, u64) {
    let (bytes, digest) = tokio::task::spawn_blocking(move || {
        let digest = super::fetch::digest(&bytes);
        (bytes, Some(digest))
    })
    .await
    .unwrap_or_else(|_| (Vec::new(), None));
    // A hashing thread cannot fail but by a panic; then nothing was downloaded that can be
    // compared, and an empty catalog fails its check.
    (bytes, digest.unwrap_or_default())
}

/// Logs what was made of a catalog: size, epoch range and rejects (info), then each of the
/// first rejects by line and reason (warn), so an operator sees at start what was skipped.
pub fn log_loaded(catalog: &ActiveCatalog) {
    let s = catalog.summary();
    tracing::info!(
        source = %s.source,
        format = s.format,
        objects = s.objects,
        epoch_oldest = s.epoch_oldest.as_deref().unwrap_or("-"),
        epoch_newest = s.epoch_newest.as_deref().unwrap_or("-"),
        rejects = s.rejects,
        duplicates_replaced = s.duplicates_replaced,
        generation = s.generation,
        "catalog loaded"
    );
    for r in &s.first_rejects {
        tracing::warn!(
            line = r.line,
            record = r.record,
            code = r.code,
            reason = %r.reason,
            "catalog element set rejected"
        );
    }
    if s.rejects > LISTED_REJECTS {
        tracing::warn!(
            more = s.rejects - LISTED_REJECTS,
            "more catalog element sets rejected (counted in catalog_rejects, not listed)"
        );
    }
}
