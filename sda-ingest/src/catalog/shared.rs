//! The catalog in use, shared by the correlator (which swaps it), the `catalog` source (which
//! reports refreshes that failed) and the control plane (which shows it at `GET /catalog`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::{ActiveCatalog, CatalogOrigin, CatalogSummary, now_rfc3339};

/// How one refresh of the catalog ended, the `outcome` label of `catalog_refresh_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A new, valid catalog was swapped in.
    Swapped,
    /// The file or download had not changed.
    Unchanged,
    /// The file or download could not be read or held nothing usable: the catalog in use was
    /// kept.
    Failed,
}

impl RefreshOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Swapped => "swapped",
            RefreshOutcome::Unchanged => "unchanged",
            RefreshOutcome::Failed => "failed",
        }
    }
}

/// The last refresh that failed: when, from where, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct LastError {
    at: String,
    source: String,
    error: String,
}

/// Refreshes by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
struct Refreshes {
    swapped: u64,
    unchanged: u64,
    failed: u64,
}

#[derive(Debug)]
struct Inner {
    active: Arc<ActiveCatalog>,
    refreshes: Refreshes,
    last_error: Option<LastError>,
}

/// The body of `GET /catalog`.
#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    summary: &'a CatalogSummary,
    refreshes: Refreshes,
    last_error: &'a Option<LastError>,
}

/// The catalog in use and what became of the refreshes. Cheap to clone (shared).
///
/// The correlator is the only one that swaps it, between its screening runs, so association
/// and screening always see one whole catalog; everyone else reads.
#[derive(Debug, Clone)]
pub struct SharedCatalog {
    inner: Arc<Mutex<Inner>>,
}

impl SharedCatalog {
    /// Starts with `initial` in use, and publishes its gauges (described with the service's
    /// other metrics, in `telemetry`).
    pub fn new(initial: ActiveCatalog) -> Self {
        publish(&initial);
        SharedCatalog {
            inner: Arc::new(Mutex::new(Inner {
                active: Arc::new(initial),
                refreshes: Refreshes::default(),
                last_error: None,
            })),
        }
    }

    /// The catalog in use.
    pub fn current(&self) -> Arc<ActiveCatalog> {
        Arc::clone(&self.lock().active)
    }

    /// Puts `next` in use, counts and logs the swap, and publishes its gauges.
    pub fn swap(&self, next: Arc<ActiveCatalog>) {
        let summary = next.summary().clone();
        let previous = {
            let mut inner = self.lock();
            inner.refreshes.swapped += 1;
            std::mem::replace(&mut inner.active, next)
        };
        let previous_objects = previous.summary().objects;
        // The old catalog's tens of thousands of names and propagators are freed on a blocking
        // thread, not on the correlator's task on the I/O runtime (inline without a runtime).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(previous))),
            Err(_) => drop(previous),
        }
        publish_refresh(RefreshOutcome::Swapped);
        gauges(&summary);
        tracing::info!(
            generation = summary.generation,
            objects = summary.objects,
            previous_objects,
            rejects = summary.rejects,
            source = %summary.source,
            "catalog swapped"
        );
    }

    /// A check found the file or download unchanged.
    pub fn unchanged(&self) {
        self.lock().refreshes.unchanged += 1;
        publish_refresh(RefreshOutcome::Unchanged);
    }

    /// A refresh from `source` failed with `error`: the catalog in use stays, the failure is
    /// counted, logged and kept for `/catalog`.
    pub fn refresh_failed(&self, source: &CatalogOrigin, error: &str) {
        {
            let mut inner = self.lock();
            inner.refreshes.failed += 1;
            inner.last_error = Some(LastError {
                at: now_rfc3339(),
                source: source.to_string(),
                error: error.to_owned(),
            });
        }
        publish_refresh(RefreshOutcome::Failed);
        tracing::warn!(
            source = %source,
            error,
            "catalog refresh failed; keeping the catalog in use"
        );
    }

    /// Refreshes that failed so far.
    pub fn refresh_failures(&self) -> u64 {
        self.lock().refreshes.failed
    }

    /// The body of `GET /catalog`: the catalog in use ([`CatalogSummary`]), `refreshes` by
    /// outcome and the `last_error` (`null` when none failed).
    pub fn view(&self) -> serde_json::Value {
        let inner = self.lock();
        let view = View {
            summary: inner.active.summary(),
            refreshes: inner.refreshes,
            last_error: &inner.last_error,
        };
        serde_json::to_value(view).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn publish(catalog: &ActiveCatalog) {
    gauges(catalog.summary());
    // The series exist from the start, so a dashboard shows 0 rather than no data.
    for outcome in [
        RefreshOutcome::Swapped,
        RefreshOutcome::Unchanged,
        RefreshOutcome::Failed,
    ] {
        metrics::counter!("catalog_refresh_total", "outcome" => outcome.as_str()).increment(0);
    }
}

fn gauges(summary: &CatalogSummary) {
    metrics::gauge!("catalog_objects").set(summary.objects as f64);
    metrics::gauge!("catalog_rejects").set(summary.rejects as f64);
    metrics::gauge!("catalog_generation").set(summary.generation as f64);
}

fn publish_refresh(outcome: RefreshOutcome) {
    metrics::counter!("catalog_refresh_total", "outcome" => outcome.as_str()).increment(1);
}

#[cfg(test)]
mod tests {
    use sda_ingest_core::orbit::elements::load;

    use super::*;

    fn catalog(name: &str, generation: u64) -> ActiveCatalog {
        let path = format!(
            "{}/tests/fixtures/catalog/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let loaded = load(&std::fs::read_to_string(&path).unwrap()).unwrap();
        ActiveCatalog::from_loaded(generation, &loaded, CatalogOrigin::File(path.into()))
    }

    #[test]
    fn the_view_shows_the_catalog_in_use_its_rejects_and_the_last_failure() {
        let shared = SharedCatalog::new(catalog("small.3le", 1));
        let view = shared.view();
        assert_eq!(view["generation"], 1);
        assert_eq!(view["objects"], 8);
        assert_eq!(view["format"], "3le");
        assert_eq!(view["rejects"], 1);
        assert_eq!(view["first_rejects"][0]["line"], 12);
        assert_eq!(view["first_rejects"][0]["code"], "checksum");
        assert_eq!(view["epoch_oldest"], "2024-02-29T09:33:20.000Z");
        assert_eq!(view["epoch_newest"], "2024-03-01T00:00:00.000Z");
        assert!(
            view["source"]["file"]
                .as_str()
                .unwrap()
                .ends_with("small.3le")
        );
        assert_eq!(view["last_error"], serde_json::Value::Null);

        let origin = CatalogOrigin::Url("http://127.0.0.1:1/active.3le".into());
        shared.refresh_failed(&origin, "server answered 503");
        shared.swap(Arc::new(catalog("refreshed.3le", 2)));
        let view = shared.view();
        assert_eq!(
            (view["generation"].as_u64(), view["objects"].as_u64()),
            (Some(2), Some(10))
        );
        assert_eq!(view["refreshes"]["swapped"], 1);
        assert_eq!(view["refreshes"]["failed"], 1);
        assert_eq!(
            view["last_error"]["source"],
            "http://127.0.0.1:1/active.3le"
        );
        assert_eq!(view["last_error"]["error"], "server answered 503");
        assert_eq!(shared.refresh_failures(), 1);
    }
}
