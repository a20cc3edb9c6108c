//! The hand-written catalog fixtures (TLE, 3LE, OMM JSON, OMM CSV) load to the same objects,
//! and every bad element set in them is rejected at its line or record with its reason code.

use std::collections::BTreeSet;

use sda_ingest_core::orbit::elements::{
    CatalogFormat, ElementSet, LoadError, LoadedCatalog, Location, load, load_as,
};
use sda_ingest_core::orbit::frames::{norm, sub};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/catalog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ids(c: &LoadedCatalog) -> Vec<u32> {
    c.objects.iter().map(|o| o.elements.norad_id).collect()
}

fn rejects(c: &LoadedCatalog) -> Vec<(Location, &'static str)> {
    c.rejects.iter().map(|r| (r.at, r.code())).collect()
}

fn element(c: &LoadedCatalog, norad_id: u32) -> &ElementSet {
    &c.objects
        .iter()
        .find(|o| o.elements.norad_id == norad_id)
        .unwrap()
        .elements
}

const ALL_TEN: [u32; 10] = [
    20580, 24876, 25485, 25544, 29228, 33591, 34427, 41866, 44057, 44713,
];

#[test]
fn two_line_fixture() {
    let c = load(&fixture("catalog.tle")).unwrap();
    assert_eq!(c.format, CatalogFormat::Tle);
    assert_eq!(ids(&c), [20580, 24876, 25544, 29228, 33591, 41866, 44713]);
    assert_eq!(c.duplicates_replaced, 1);
    use Location::Line;
    assert_eq!(
        rejects(&c),
        [
            (Line(15), "line_length"),
            (Line(18), "checksum"),
            (Line(20), "field_format"),
            (Line(22), "norad_mismatch"),
            (Line(24), "field_range"),
            (Line(25), "unsupported_ephemeris_type"),
            (Line(27), "sgp4_init"),
            (Line(29), "missing_line1"),
            (Line(30), "missing_line2"),
        ]
    );
    // The later ISS element set (day 45) replaced the earlier one (day 44).
    let iss = element(&c, 25544);
    assert_eq!(iss.mean_anomaly_deg, 16.6542);
    assert_eq!(iss.name, "");
    assert_eq!(
        c.oldest_epoch.format("%j %H:%M").to_string(),
        "044 04:39",
        "GPS, day 44.19387731"
    );
    assert_eq!(c.newest_epoch.format("%j %H:%M").to_string(), "045 15:59");
}

#[test]
fn three_line_fixture_with_crlf_padded_and_space_track_names() {
    let c = load(&fixture("catalog.3le")).unwrap();
    assert_eq!(c.format, CatalogFormat::ThreeLine);
    assert_eq!(ids(&c), [20580, 25485, 25544, 29228, 33591, 34427]);
    assert_eq!(c.duplicates_replaced, 0);
    use Location::Line;
    assert_eq!(
        rejects(&c),
        [
            (Line(7), "unexpected_line"),
            (Line(12), "line_length"),
            (Line(16), "checksum"),
            (Line(18), "missing_line2"),
            (Line(24), "missing_line1"),
        ]
    );
    assert_eq!(element(&c, 20580).name, "HST");
    assert_eq!(element(&c, 33591).name, "NOAA 19");
    assert_eq!(element(&c, 25544).name, "ISS (ZARYA)");
    assert_eq!(element(&c, 34427).object_id, "1993-036AQ");
}

#[test]
fn omm_json_fixture() {
    let c = load(&fixture("catalog_omm.json")).unwrap();
    assert_eq!(c.format, CatalogFormat::OmmJson);
    assert_eq!(ids(&c), ALL_TEN);
    assert_eq!(c.duplicates_replaced, 1);
    use Location::Record;
    assert_eq!(
        rejects(&c),
        [
            (Record(11), "missing_field"),
            (Record(12), "field_format"),
            (Record(13), "field_format"),
            (Record(14), "record_format"),
            (Record(15), "field_range"),
            (Record(16), "unsupported_ephemeris_type"),
            (Record(17), "sgp4_init"),
        ]
    );
    assert!(c.rejects[0].message().contains("MEAN_MOTION"));
    assert!(c.rejects[2].message().contains("EPOCH"));
    // The older ISS set comes later in the file; the newer epoch still wins.
    assert_eq!(element(&c, 25544).mean_anomaly_deg, 16.6542);
    // HST is written with every value as a string, as Space-Track does.
    assert_eq!(element(&c, 20580).inclination_deg, 28.4699);
}

#[test]
fn omm_csv_fixture() {
    let c = load(&fixture("catalog_omm.csv")).unwrap();
    assert_eq!(c.format, CatalogFormat::OmmCsv);
    assert_eq!(ids(&c), ALL_TEN);
    assert_eq!(c.duplicates_replaced, 1);
    use Location::Line;
    assert_eq!(
        rejects(&c),
        [
            (Line(13), "missing_field"),
            (Line(14), "field_format"),
            (Line(15), "field_range"),
            (Line(16), "record_format"),
            (Line(17), "unsupported_ephemeris_type"),
            (Line(18), "sgp4_init"),
        ]
    );
    assert_eq!(element(&c, 34427).name, "COSMOS 2251 DEB");
}

#[test]
fn every_reject_reason_appears_in_the_fixtures() {
    let mut seen = BTreeSet::new();
    for name in [
        "catalog.tle",
        "catalog.3le",
        "catalog_omm.json",
        "catalog_omm.csv",
    ] {
        seen.extend(
            load(&fixture(name))
                .unwrap()
                .rejects
                .iter()
                .map(|r| r.code()),
        );
    }
    let all = BTreeSet::from([
        "line_length",
        "checksum",
        "missing_line2",
        "missing_line1",
        "unexpected_line",
        "field_format",
        "norad_mismatch",
        "field_range",
        "missing_field",
        "unsupported_ephemeris_type",
        "record_format",
        "sgp4_init",
    ]);
    assert_eq!(seen, all);
}

#[test]
fn the_four_formats_agree_on_the_shared_objects() {
    let tle = load(&fixture("catalog.tle")).unwrap();
    let three = load(&fixture("catalog.3le")).unwrap();
    let json = load(&fixture("catalog_omm.json")).unwrap();
    let csv = load(&fixture("catalog_omm.csv")).unwrap();
    let mut compared = 0;
    for reference in &json.objects {
        let id = reference.elements.norad_id;
        for other in [&tle, &three, &csv] {
            let Some(o) = other.objects.iter().find(|o| o.elements.norad_id == id) else {
                continue;
            };
            let (a, b) = (&reference.elements, &o.elements);
            assert!(
                (a.epoch - b.epoch).num_microseconds().unwrap().abs() <= 2,
                "{id}"
            );
            assert_eq!(
                (
                    a.inclination_deg,
                    a.raan_deg,
                    a.eccentricity,
                    a.mean_motion_rev_day
                ),
                (
                    b.inclination_deg,
                    b.raan_deg,
                    b.eccentricity,
                    b.mean_motion_rev_day
                ),
                "{id}"
            );
            assert!((a.bstar - b.bstar).abs() <= 1e-12, "{id}");
            // Half a day later the two propagators agree to well under a metre.
            let t = a.epoch_unix_s() + 43_200.0;
            let (sa, sb) = (
                reference.propagator.state_at(t).unwrap(),
                o.propagator.state_at(t).unwrap(),
            );
            assert!(norm(sub(sa.position_km, sb.position_km)) < 1e-3, "{id}");
            compared += 1;
        }
    }
    assert_eq!(compared, 7 + 6 + 10);
}

#[test]
fn whole_catalog_failures() {
    assert_eq!(load("").unwrap_err(), LoadError::Empty);
    assert_eq!(load("\n  \n").unwrap_err().code(), "empty");
    assert_eq!(load("[]").unwrap_err(), LoadError::Empty);
    let json = load("[{\"NORAD_CAT_ID\": 1},\n  {oops}]").unwrap_err();
    assert!(matches!(json, LoadError::Json { line: 2, .. }), "{json:?}");
    assert_eq!(
        load_as("42", CatalogFormat::OmmJson).unwrap_err().code(),
        "json_syntax"
    );
    let bad = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\n";
    match load(bad).unwrap_err() {
        LoadError::NothingUsable { rejects } => {
            assert_eq!(rejects.len(), 1);
            assert_eq!(rejects[0].code(), "missing_line2");
        }
        other => panic!("{other:?}"),
    }
}
