//! The service's catalog: where it comes from (a file, a URL, the simulator's own), what was
//! made of it, and how a newer one reaches the correlator while the service runs.
//!
//! * [`ActiveCatalog`]: one catalog ready for work: its objects indexed for association, their
//!   names for alerts, and its [`CatalogSummary`] (size, epoch range, rejects by line);
//! * [`SharedCatalog`]: the catalog in use, which the correlator swaps and `GET /catalog`
//!   shows, with the refresh outcomes and the last refresh error;
//! * [`read_catalog`] and [`fetch_catalog`]: reading and checking a catalog (file or URL), at
//!   start-up, and [`log_loaded`] to report what was made of it;
//! * [`catalog_feed`]: the `catalog` source vertex, which watches the file and polls the URL and
//!   hands each new, valid catalog to the correlator through the graph.

mod feed;
mod fetch;
mod load;
mod shared;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::pipeline::unix_now;
use sda_ingest_core::orbit::associate::IndexedCatalog;
use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::elements::{CatalogFormat, LoadedCatalog, Location, Reject};
use sda_ingest_core::orbit::propagate::Propagator;
use serde::Serialize;

pub use feed::{CatalogFeed, FeedStart, SourcesDone, catalog_feed};
pub use fetch::{FETCH_BREAKER, MAX_CATALOG_BYTES};
pub use load::{CatalogError, fetch_catalog, log_loaded, read_catalog};
pub use shared::{RefreshOutcome, SharedCatalog};

/// Rejected element sets a [`CatalogSummary`] lists one by one (all are counted).
pub const LISTED_REJECTS: usize = 20;

/// Where a catalog came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogOrigin {
    /// The built-in simulator's own catalog.
    Simulator,
    /// A population shaped like the public catalog, generated for a load test (`--population`).
    Population(usize),
    /// A file (`--catalog`).
    File(PathBuf),
    /// A URL (`--catalog-url`), as [`CatalogOrigin::url`] shows it.
    Url(String),
}

impl CatalogOrigin {
    /// The origin of a download from `url`, shown without its password or query, which may
    /// hold credentials: origins are logged and served at `GET /catalog`, which needs no token.
    pub fn url(url: &reqwest::Url) -> Self {
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        let had_query = shown.query().is_some();
        shown.set_query(None);
        let mut text = shown.to_string();
        if had_query {
            text.push_str("?…");
        }
        CatalogOrigin::Url(text)
    }
}

impl std::fmt::Display for CatalogOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogOrigin::Simulator => f.write_str("the simulator"),
            CatalogOrigin::Population(n) => write!(f, "a generated population of {n}"),
            CatalogOrigin::File(path) => write!(f, "{}", path.display()),
            CatalogOrigin::Url(url) => f.write_str(url),
        }
    }
}

/// One rejected element set, as `/catalog` lists it: `line` (TLE, 3LE, CSV) or `record` (the
/// index in an OMM JSON array), the stable reason `code` and the `reason` in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectLine {
    /// 1-based line of the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 0-based record of a JSON array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    /// The stable reason code (`checksum`, `line_length`, `field_range`, ...).
    pub code: &'static str,
    /// The reason in words.
    pub reason: String,
}

impl From<&Reject> for RejectLine {
    fn from(r: &Reject) -> Self {
        let (line, record) = match r.at {
            Location::Line(n) => (Some(n), None),
            Location::Record(n) => (None, Some(n)),
        };
        RejectLine {
            line,
            record,
            code: r.code(),
            reason: r.message(),
        }
    }
}

/// What was made of one catalog: the `catalog` object of `GET /catalog`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogSummary {
    /// 1 for the catalog the service started with, one more for each catalog swapped in since.
    pub generation: u64,
    /// Where it came from.
    pub source: CatalogOrigin,
    /// `tle`, `3le`, `omm_json` or `omm_csv`; `generated` for the simulator's own.
    pub format: &'static str,
    /// Usable objects.
    pub objects: usize,
    /// Oldest element epoch, RFC 3339 UTC.
    pub epoch_oldest: Option<String>,
    /// Newest element epoch, RFC 3339 UTC.
    pub epoch_newest: Option<String>,
    /// Element sets rejected (skipped) while loading.
    pub rejects: usize,
    /// The first [`LISTED_REJECTS`] of them, in input order.
    pub first_rejects: Vec<RejectLine>,
    /// Older element sets replaced by a newer one of the same NORAD number.
    pub duplicates_replaced: usize,
    /// When it was loaded, RFC 3339 UTC.
    pub loaded_at: String,
}

/// A catalog ready for the correlator: its objects indexed for association and screening,
/// their names for alerts, and its [`CatalogSummary`].
#[derive(Debug, Clone)]
pub struct ActiveCatalog {
    objects: IndexedCatalog,
    names: Arc<HashMap<u32, Arc<str>, foldhash::fast::FixedState>>,
    summary: CatalogSummary,
}

impl ActiveCatalog {
    /// The catalog `load` made of a file or a download.
    pub fn from_loaded(generation: u64, loaded: &LoadedCatalog, source: CatalogOrigin) -> Self {
        let names = loaded
            .objects
            .iter()
            .map(|o| (o.elements.norad_id, o.elements.name.as_str()));
        let summary = CatalogSummary {
            generation,
            source,
            format: format_name(loaded.format),
            objects: loaded.objects.len(),
            epoch_oldest: Some(rfc3339(loaded.oldest_epoch)),
            epoch_newest: Some(rfc3339(loaded.newest_epoch)),
            rejects: loaded.rejects.len(),
            first_rejects: loaded
                .rejects
                .iter()
                .take(LISTED_REJECTS)
                .map(RejectLine::from)
                .collect(),
            duplicates_replaced: loaded.duplicates_replaced,
            loaded_at: now_rfc3339(),
        };
        ActiveCatalog {
            objects: IndexedCatalog::new(loaded.propagators()),
            names: Arc::new(name_map(names)),
            summary,
        }
    }

    /// The simulator's catalog: `propagators` with the names of `catalog`'s element sets.
    pub fn from_generated(
        catalog: &Catalog,
        propagators: Arc<[Propagator]>,
        source: CatalogOrigin,
    ) -> Self {
        let names = catalog
            .objects
            .iter()
            .map(|o| (o.norad_id, o.name.as_str()));
        let epochs = propagators.iter().map(Propagator::epoch_unix_s);
        let (oldest, newest) = epochs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), e| {
            (lo.min(e), hi.max(e))
        });
        let summary = CatalogSummary {
            generation: 1,
            source,
            format: "generated",
            objects: propagators.len(),
            epoch_oldest: unix_rfc3339(oldest),
            epoch_newest: unix_rfc3339(newest),
            rejects: 0,
            first_rejects: Vec::new(),
            duplicates_replaced: 0,
            loaded_at: now_rfc3339(),
        };
        ActiveCatalog {
            objects: IndexedCatalog::new(propagators),
            names: Arc::new(name_map(names)),
            summary,
        }
    }

    /// The objects, indexed by NORAD number.
    pub fn objects(&self) -> &IndexedCatalog {
        &self.objects
    }

    /// The object's name, when the catalog has one.
    pub fn name(&self, norad_id: u32) -> Option<Arc<str>> {
        self.names.get(&norad_id).cloned()
    }

    /// What was made of the catalog.
    pub fn summary(&self) -> &CatalogSummary {
        &self.summary
    }

    /// The newest element epoch, UTC Unix seconds; `None` for an empty catalog.
    pub fn newest_epoch_unix_s(&self) -> Option<f64> {
        self.objects
            .objects()
            .iter()
            .map(Propagator::epoch_unix_s)
            .max_by(f64::total_cmp)
    }

    /// Its generation ([`CatalogSummary::generation`]).
    pub fn generation(&self) -> u64 {
        self.summary.generation
    }
}

/// Names by NORAD number; empty names (a two-line catalog) are left out.
fn name_map<'a>(
    names: impl Iterator<Item = (u32, &'a str)>,
) -> HashMap<u32, Arc<str>, foldhash::fast::FixedState> {
    names
        .filter(|(_, name)| !name.trim().is_empty())
        .map(|(id, name)| (id, Arc::from(name.trim())))
        .collect()
}

/// The short name of a catalog format, as `/catalog` shows it.
pub fn format_name(format: CatalogFormat) -> &'static str {
    match format {
        CatalogFormat::Tle => "tle",
        CatalogFormat::ThreeLine => "3le",
        CatalogFormat::OmmJson => "omm_json",
        CatalogFormat::OmmCsv => "omm_csv",
    }
}

/// RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Now, RFC 3339 UTC with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    unix_rfc3339(unix_now()).unwrap_or_default()
}

/// RFC 3339 UTC with milliseconds of UTC Unix seconds; `None` when not a representable time.
pub(crate) fn unix_rfc3339(unix_s: f64) -> Option<String> {
    if !unix_s.is_finite() {
        return None;
    }
    let secs = unix_s.floor();
    DateTime::from_timestamp(secs as i64, ((unix_s - secs) * 1e9) as u32).map(rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_credentials() {
        let url =
            reqwest::Url::parse("https://user:secret@catalog.example/gp.php?key=abc&FORMAT=tle")
                .unwrap();
        let CatalogOrigin::Url(shown) = CatalogOrigin::url(&url) else {
            panic!("not a URL origin");
        };
        assert_eq!(shown, "https://user@catalog.example/gp.php?…");
        let plain = reqwest::Url::parse("http://127.0.0.1:8080/active.3le").unwrap();
        assert_eq!(
            CatalogOrigin::url(&plain),
            CatalogOrigin::Url("http://127.0.0.1:8080/active.3le".into())
        );
    }
}
