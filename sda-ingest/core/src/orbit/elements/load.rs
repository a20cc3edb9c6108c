//! Format detection, the per-format scan, SGP4 initialisation and the newest-epoch rule.

use super::check::initialise;
use super::{
    Candidate, CatalogFormat, LoadError, LoadedCatalog, LoadedObject, Reject, omm_csv, omm_json,
    tle,
};

/// Tells the format of a catalog from its content.
///
/// JSON starts with `[` or `{`; CSV has a header line naming `NORAD_CAT_ID` or `MEAN_MOTION`
/// between commas; anything else is read as TLE text, two- or three-line (which of the two is
/// decided per record, and [`load`] reports [`CatalogFormat::ThreeLine`] when any record has a
/// name).
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::elements::{CatalogFormat, detect};
///
/// assert_eq!(detect("[{\"NORAD_CAT_ID\": 25544}]"), CatalogFormat::OmmJson);
/// assert_eq!(detect("OBJECT_NAME,OBJECT_ID,EPOCH,MEAN_MOTION\n"), CatalogFormat::OmmCsv);
/// assert_eq!(detect("ISS (ZARYA)\n1 25544U ..."), CatalogFormat::Tle);
/// ```
pub fn detect(text: &str) -> CatalogFormat {
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.starts_with('[') || body.starts_with('{') {
        return CatalogFormat::OmmJson;
    }
    let first = body.lines().next().unwrap_or("");
    let names_a_key = first.split(',').any(|cell| {
        matches!(
            cell.trim().trim_matches('"'),
            "NORAD_CAT_ID" | "MEAN_MOTION"
        )
    });
    if first.contains(',') && names_a_key {
        CatalogFormat::OmmCsv
    } else {
        CatalogFormat::Tle
    }
}

/// Loads a catalog, detecting its format ([`detect`]).
///
/// Every element set is checked; each bad one is skipped and listed in
/// [`LoadedCatalog::rejects`] with its line (or JSON record index) and reason. When a NORAD
/// number appears more than once, the element set with the newest epoch is kept (on equal
/// epochs, the later one in the input) and the others are counted in
/// [`LoadedCatalog::duplicates_replaced`].
///
/// # Errors
///
/// [`LoadError::Empty`] when there is no element set at all, [`LoadError::NothingUsable`]
/// when every one was rejected, [`LoadError::Json`] when an OMM JSON document does not parse.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::elements::{CatalogFormat, load};
///
/// let text = "\
/// ISS (ZARYA)
/// 1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927
/// 2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537
/// BROKEN
/// 1 25545U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927
/// 2 25545  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537
/// ";
/// let catalog = load(text)?;
/// assert_eq!(catalog.format, CatalogFormat::ThreeLine);
/// assert_eq!(catalog.objects.len(), 1);
/// assert_eq!(catalog.objects[0].elements.name, "ISS (ZARYA)");
/// assert_eq!(catalog.rejects[0].code(), "checksum");
/// assert_eq!(catalog.rejects[0].at.to_string(), "line 5");
/// # Ok::<(), sda_ingest_core::orbit::elements::LoadError>(())
/// ```
pub fn load(text: &str) -> Result<LoadedCatalog, LoadError> {
    load_as(text, detect(text))
}

/// Loads a catalog in a known format; [`CatalogFormat::Tle`] and
/// [`CatalogFormat::ThreeLine`] read the same way (names are optional per record).
///
/// # Errors
///
/// As [`load`].
pub fn load_as(text: &str, format: CatalogFormat) -> Result<LoadedCatalog, LoadError> {
    let (records, format) = match format {
        CatalogFormat::Tle | CatalogFormat::ThreeLine => {
            let scan = tle::scan(text);
            let format = if scan.named {
                CatalogFormat::ThreeLine
            } else {
                CatalogFormat::Tle
            };
            (scan.records, format)
        }
        CatalogFormat::OmmJson => (omm_json::scan(text)?, format),
        CatalogFormat::OmmCsv => (omm_csv::scan(text), format),
    };
    if records.is_empty() {
        return Err(LoadError::Empty);
    }
    let mut rejects = Vec::new();
    let mut usable = Vec::with_capacity(records.len());
    for record in records {
        match record.and_then(|Candidate { at, elements }| {
            initialise(&elements)
                .map(|propagator| LoadedObject {
                    elements,
                    propagator,
                })
                .map_err(|error| Reject { at, error })
        }) {
            Ok(object) => usable.push(object),
            Err(reject) => rejects.push(reject),
        }
    }
    rejects.sort_by_key(|r| r.at);
    if usable.is_empty() {
        return Err(LoadError::NothingUsable { rejects });
    }
    // A stable sort keeps input order among equal epochs, so the last of a run is the newest
    // epoch and, on a tie, the later element set in the input.
    usable.sort_by(|a, b| {
        a.elements
            .norad_id
            .cmp(&b.elements.norad_id)
            .then(a.elements.epoch.cmp(&b.elements.epoch))
    });
    let total = usable.len();
    let mut objects: Vec<LoadedObject> = Vec::with_capacity(total);
    for object in usable {
        match objects.last_mut() {
            Some(last) if last.elements.norad_id == object.elements.norad_id => *last = object,
            _ => objects.push(object),
        }
    }
    let epochs = objects.iter().map(|o| o.elements.epoch);
    let (oldest_epoch, newest_epoch) = match (epochs.clone().min(), epochs.max()) {
        (Some(oldest), Some(newest)) => (oldest, newest),
        _ => return Err(LoadError::NothingUsable { rejects }),
    };
    Ok(LoadedCatalog {
        format,
        duplicates_replaced: total - objects.len(),
        objects,
        rejects,
        oldest_epoch,
        newest_epoch,
    })
}
