//! The `catalog` source: watches the catalog file and polls the catalog URL, and hands every
//! new, valid catalog to the correlator through the graph.
//!
//! **What counts as new.** The file is looked at every [`CatalogFeed::watch_interval`]: only
//! when its modification time or size changed is it read, and only when its bytes differ from
//! the catalog's last ones is it checked. The URL is downloaded every
//! [`CatalogFeed::refresh_interval`] (with retries behind the `catalog_source` breaker) and
//! checked when its bytes differ from the last download. Replace the file atomically (write a
//! temporary file, then rename it): a file read half-written fails its checks, is reported, and
//! is read again when it changes.
//!
//! **Off the hot path.** Parsing, checking and initialising SGP4 for a whole catalog run on the
//! propagator pool (low-priority threads), never on the I/O runtime; the swap itself is done by
//! the correlator between two of its screening runs (see its documentation).
//!
//! **Failures.** A file that cannot be read, a download that fails after its retries, or a
//! catalog with nothing usable is counted (`catalog_refresh_total{outcome="failed"}`), logged,
//! and shown as `last_error` at `GET /catalog`; the catalog in use stays. The source itself does
//! not fail: it tries again at the next change or poll.
//!
//! **Its end.** It finishes when the graph stops, or once every observation source has finished
//! (a finite replay, `--passes`): a catalog only matters while observations arrive. With
//! neither a file nor a URL to follow it finishes at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use sda_orchestrator::resilience::{BreakerConfig, CircuitBreaker, RetryPolicy};
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fetch;
use super::load::{check, read_with_digest, with_digest};
use super::{ActiveCatalog, CatalogError, CatalogOrigin, MAX_CATALOG_BYTES, SharedCatalog};
use crate::pipeline::operators::{CorrelatorInput, PropagatorRuntime};

/// Where newer catalogs come from and how often to look.
#[derive(Debug, Clone)]
pub struct CatalogFeed {
    /// The catalog file to watch (`--catalog`).
    pub file: Option<PathBuf>,
    /// The catalog URL to poll (`--catalog-url`).
    pub url: Option<reqwest::Url>,
    /// How often the file's modification time and size are looked at.
    pub watch_interval: Duration,
    /// How often the URL is downloaded.
    pub refresh_interval: Duration,
    /// Limit on one download, connection and body included.
    pub request_timeout: Duration,
    /// Retries of one download (operator label `catalog`).
    pub retry: RetryPolicy,
    breaker: CircuitBreaker,
}

impl CatalogFeed {
    /// Defaults for `file` and `url`: the file looked at every 10 s, the URL downloaded every
    /// hour, 60 s per request, retries from 1 s up to 30 s apart for at most 2 minutes per
    /// download, and a breaker that opens after 3 failures within 5 minutes for a minute.
    ///
    /// Creates the `catalog_source` breaker, so install the metrics recorder first.
    pub fn new(file: Option<PathBuf>, url: Option<reqwest::Url>) -> Self {
        CatalogFeed {
            file,
            url,
            watch_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(3_600),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::new("catalog")
                .base(Duration::from_secs(1))
                .cap(Duration::from_secs(30))
                .max_attempts(u32::MAX)
                .max_elapsed(Duration::from_secs(120)),
            breaker: CircuitBreaker::new(
                fetch::FETCH_BREAKER,
                BreakerConfig {
                    failure_threshold: 3,
                    window: Duration::from_secs(300),
                    cooldown: Duration::from_secs(60),
                    half_open_probes: 1,
                },
            ),
        }
    }

    /// Replaces the breaker's configuration.
    #[must_use]
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = CircuitBreaker::new(fetch::FETCH_BREAKER, config);
        self
    }

    /// Whether there is nothing to follow (the simulator's own catalog).
    pub fn is_idle(&self) -> bool {
        self.file.is_none() && self.url.is_none()
    }

    /// The download breaker, shared by every download of this feed.
    pub(super) fn breaker(&self) -> CircuitBreaker {
        self.breaker.clone()
    }
}

/// Counts the observation sources still running, so that the `catalog` source can finish with
/// them. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct SourcesDone {
    remaining: Arc<AtomicUsize>,
    done: CancellationToken,
}

impl SourcesDone {
    /// `sources` observation sources, all running.
    pub fn new(sources: usize) -> Self {
        let done = CancellationToken::new();
        if sources == 0 {
            done.cancel();
        }
        SourcesDone {
            remaining: Arc::new(AtomicUsize::new(sources)),
            done,
        }
    }

    /// One observation source has finished for good (it returned `Ok`).
    pub fn finished(&self) {
        let before = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if before == Ok(1) {
            self.done.cancel();
        }
    }

    /// Completes once every observation source has finished.
    pub async fn all_finished(&self) {
        self.done.cancelled().await;
    }
}

/// What the feed has seen, kept across restarts so a restart neither re-reads an unchanged
/// file nor hands the same catalog on twice.
#[derive(Debug, Default)]
struct Seen {
    /// Modification time and size of the file when last read.
    stamp: Option<(Option<SystemTime>, u64)>,
    /// Fingerprint of the file's last bytes.
    file_digest: Option<u64>,
    /// Fingerprint of the last download.
    url_digest: Option<u64>,
    /// The last error looking at the file, so one that persists is reported once.
    file_error: Option<String>,
    /// Generation of the next catalog handed on.
    next_generation: u64,
}

/// What the feed starts from: the catalog loaded at start-up.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeedStart {
    /// Its generation.
    pub generation: u64,
    /// Fingerprint of its bytes, when it came from the file.
    pub file_digest: Option<u64>,
    /// Fingerprint of its bytes, when it came from the URL.
    pub url_digest: Option<u64>,
}

/// The `catalog` source: see the module documentation.
pub fn catalog_feed(
    feed: CatalogFeed,
    start: FeedStart,
    shared: SharedCatalog,
    runtime: PropagatorRuntime,
    done: SourcesDone,
) -> impl SourceFactory<CorrelatorInput> {
    let seen = Arc::new(Mutex::new(Seen {
        file_digest: start.file_digest,
        url_digest: start.url_digest,
        next_generation: start.generation + 1,
        ..Seen::default()
    }));
    move |mut ctx: SourceContext<CorrelatorInput>| {
        let (feed, shared, runtime, done, seen) = (
            feed.clone(),
            shared.clone(),
            runtime.clone(),
            done.clone(),
            seen.clone(),
        );
        async move {
            // Catalogs carry no event time: this edge never holds the correlator's windows.
            ctx.output
                .advance_watermark(sda_orchestrator::time::EventTime::MAX);
            if feed.is_idle() {
                // Nothing to follow, but the source stays until the observation sources have
                // finished: a graph takes checkpoints only while every source runs.
                tokio::select! {
                    () = done.all_finished() => {}
                    () = ctx.shutdown.cancelled() => {}
                }
                return Ok(());
            }
            let client = fetch::client(&feed)?;
            let now = Instant::now();
            let mut next_file = now + feed.watch_interval;
            let mut next_url = now + feed.refresh_interval;
            loop {
                let wake = match (&feed.file, &feed.url) {
                    (Some(_), Some(_)) => next_file.min(next_url),
                    (Some(_), None) => next_file,
                    _ => next_url,
                };
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    () = done.all_finished() => return Ok(()),
                    () = tokio::time::sleep_until(wake) => {}
                }
                // A paused feed looks at nothing until it is resumed.
                if ctx.is_paused() {
                    tokio::select! {
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        () = ctx.resumed() => {}
                    }
                }
                let now = Instant::now();
                let mut found = Vec::new();
                if let Some(path) = feed.file.as_ref().filter(|_| now >= next_file) {
                    next_file = now + feed.watch_interval;
                    let checked = tokio::select! {
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        checked = look_at_file(path, &seen, &shared, &runtime) => checked,
                    };
                    found.extend(checked);
                }
                if let Some(url) = feed.url.as_ref().filter(|_| now >= next_url) {
                    next_url = now + feed.refresh_interval;
                    let checked = tokio::select! {
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        checked = poll_url(&client, &feed, url, &seen, &shared, &runtime) => checked,
                    };
                    found.extend(checked);
                }
                for catalog in found {
                    ctx.output
                        .send(CorrelatorInput::Catalog(Arc::new(catalog)))
                        .await?;
                }
            }
        }
    }
}

/// Reads the file if it changed and checks it; `None` when it did not change or could not be
/// used (reported).
async fn look_at_file(
    path: &std::path::Path,
    seen: &Mutex<Seen>,
    shared: &SharedCatalog,
    runtime: &PropagatorRuntime,
) -> Option<ActiveCatalog> {
    let origin = CatalogOrigin::File(path.to_owned());
    let read = async {
        let meta = tokio::fs::metadata(path).await?;
        let stamp = (meta.modified().ok(), meta.len());
        if lock(seen).stamp == Some(stamp) {
            return Ok(None);
        }
        if meta.len() > MAX_CATALOG_BYTES as u64 {
            lock(seen).stamp = Some(stamp);
            return Err(std::io::Error::other(format!(
                "larger than {MAX_CATALOG_BYTES} bytes"
            )));
        }
        let read = read_with_digest(path).await?;
        lock(seen).stamp = Some(stamp);
        Ok(Some(read))
    };
    let (bytes, fingerprint) = match read.await {
        Ok(Some(read)) => {
            lock(seen).file_error = None;
            read
        }
        Ok(None) => return None,
        Err(e) => {
            let error = CatalogError::Read {
                path: path.to_owned(),
                source: e,
            }
            .to_string();
            // A missing file stays missing between checks: report it when it starts.
            let mut s = lock(seen);
            if s.file_error.as_deref() != Some(error.as_str()) {
                s.file_error = Some(error.clone());
                drop(s);
                shared.refresh_failed(&origin, &error);
            }
            return None;
        }
    };
    if lock(seen).file_digest == Some(fingerprint) {
        shared.unchanged();
        return None;
    }
    lock(seen).file_digest = Some(fingerprint);
    accept(
        check(bytes, origin.clone(), next(seen), runtime).await,
        &origin,
        seen,
        shared,
    )
}

/// Downloads the URL and checks it if it changed; `None` when it did not change or could not
/// be used (reported).
async fn poll_url(
    client: &reqwest::Client,
    feed: &CatalogFeed,
    url: &reqwest::Url,
    seen: &Mutex<Seen>,
    shared: &SharedCatalog,
    runtime: &PropagatorRuntime,
) -> Option<ActiveCatalog> {
    let origin = CatalogOrigin::url(url);
    let bytes = match fetch::download(client, feed, &feed.breaker, url).await {
        Ok(bytes) => bytes,
        Err(reason) => {
            let error = CatalogError::Fetch {
                origin: origin.clone(),
                reason,
            };
            shared.refresh_failed(&origin, &error.to_string());
            return None;
        }
    };
    let (bytes, fingerprint) = with_digest(bytes).await;
    if lock(seen).url_digest == Some(fingerprint) {
        shared.unchanged();
        return None;
    }
    // A download that fails its checks is remembered too: the same bad bytes are reported
    // once, not at every poll.
    lock(seen).url_digest = Some(fingerprint);
    accept(
        check(bytes, origin.clone(), next(seen), runtime).await,
        &origin,
        seen,
        shared,
    )
}

/// The generation the next catalog handed on will have.
fn next(seen: &Mutex<Seen>) -> u64 {
    lock(seen).next_generation
}

/// A checked catalog to hand on, or its failure reported.
fn accept(
    checked: Result<ActiveCatalog, CatalogError>,
    origin: &CatalogOrigin,
    seen: &Mutex<Seen>,
    shared: &SharedCatalog,
) -> Option<ActiveCatalog> {
    match checked {
        Ok(catalog) => {
            lock(seen).next_generation += 1;
            super::log_loaded(&catalog);
            Some(catalog)
        }
        Err(e) => {
            shared.refresh_failed(origin, &e.to_string());
            None
        }
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use sda_orchestrator::{
        OperatorGraph, RestartPolicy, SinkContext, SupervisorEvent, SupervisorPolicy,
    };

    use super::*;
    use crate::catalog::read_catalog;

    fn fixture(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/catalog/");
        std::fs::read(format!("{dir}{name}")).unwrap()
    }

    /// The feed over a file in a graph whose only other vertex collects what it hands on. Time
    /// is paused: each look at the file happens when the test's clock reaches it.
    #[tokio::test(start_paused = true)]
    async fn a_changed_file_is_handed_on_and_a_bad_one_reported_while_the_catalog_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.3le");
        std::fs::write(&path, fixture("small.3le")).unwrap();
        let (initial, digest) = read_catalog(&path, 1, &PropagatorRuntime::Inline)
            .await
            .unwrap();
        let shared = SharedCatalog::new(initial);
        let feed = CatalogFeed::new(Some(path.clone()), None);
        let watch = feed.watch_interval;
        let start = FeedStart {
            generation: 1,
            file_digest: Some(digest),
            url_digest: None,
        };
        let done = SourcesDone::new(1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut graph = OperatorGraph::new();
        let source = graph.add_source(
            "catalog",
            RestartPolicy::default(),
            catalog_feed(
                feed,
                start,
                shared.clone(),
                PropagatorRuntime::Inline,
                done.clone(),
            ),
        );
        let sink = graph.add_sink(
            "correlator",
            RestartPolicy::Never,
            move |mut ctx: SinkContext<CorrelatorInput>| {
                let tx = tx.clone();
                async move {
                    while let Some(input) = ctx.input.recv().await {
                        if let CorrelatorInput::Catalog(catalog) = input {
                            let _ = tx.send(catalog);
                        }
                    }
                    Ok(())
                }
            },
        );
        graph.connect(&source, &sink);
        let running = tokio::spawn(graph.build().unwrap().run(SupervisorPolicy::default()));

        // Nothing changed: nothing is read, nothing handed on.
        tokio::time::sleep(watch * 3).await;
        assert!(rx.try_recv().is_err());

        // A new catalog is handed on, with the next generation.
        std::fs::write(&path, fixture("refreshed.3le")).unwrap();
        let next = rx.recv().await.unwrap();
        assert_eq!(next.generation(), 2);
        assert_eq!(next.objects().len(), 10);
        assert!(next.objects().get(22_803).is_some());
        assert_eq!(next.name(40_879).as_deref(), Some("CZ-4C R/B"));

        // Nothing usable: reported and kept for /catalog, nothing handed on.
        std::fs::write(&path, fixture("unusable.3le")).unwrap();
        tokio::time::sleep(watch * 2).await;
        assert!(rx.try_recv().is_err());
        let view = shared.view();
        assert_eq!(view["refreshes"]["failed"], 1, "{view}");
        let error = view["last_error"]["error"].as_str().unwrap();
        assert!(error.contains("no usable element set"), "{error}");
        assert!(
            error.contains("line 3"),
            "the first reject is named: {error}"
        );
        // The feed hands catalogs on; only the correlator swaps them in.
        assert_eq!(view["generation"], 1);
        assert_eq!(shared.current().objects().len(), 8);

        // Fixed again: handed on, numbered after the last catalog handed on.
        std::fs::write(&path, fixture("small.3le")).unwrap();
        let again = rx.recv().await.unwrap();
        assert_eq!((again.generation(), again.objects().len()), (3, 8));

        // The observation sources have finished: so does the feed, and the graph ends.
        done.finished();
        assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    }

    #[test]
    fn the_feed_follows_the_observation_sources() {
        let done = SourcesDone::new(2);
        done.finished();
        assert!(!done.done.is_cancelled());
        done.finished();
        assert!(done.done.is_cancelled());
        done.finished();
        assert!(SourcesDone::new(0).done.is_cancelled());
    }
}
