//! An element set written by the catalog writer reads back as the same elements, to the
//! precision of the TLE format, and writing what was read gives the same text again.

use chrono::DateTime;
use proptest::prelude::*;
use sda_ingest_core::orbit::catalog::{EARTH_RADIUS_KM, MU_KM3_S2};
use sda_ingest_core::orbit::elements::{ElementSet, TleStyle, load, write_tle};

/// Physically valid element sets over every field's full written range: perigee 150 km to
/// 40,000 km up, eccentricity to about 0.8, any angle, epochs across the TLE's century.
fn element_set() -> impl Strategy<Value = ElementSet> {
    let name = prop_oneof![Just(String::new()), "[0-2A-Z][ A-Z0-9()/-]{0,20}[A-Z0-9)]"];
    let object_id = prop_oneof![
        Just(String::new()),
        (1957u32..=2056, 1u32..=999, "[A-Z]{1,3}").prop_map(|(y, n, p)| format!("{y}-{n:03}{p}"))
    ];
    let orbit = (150.0..40_000.0f64, 0.0..20_000.0f64).prop_map(|(hp, extra)| {
        let (rp, ra) = (EARTH_RADIUS_KM + hp, EARTH_RADIUS_KM + hp + extra);
        let a = (rp + ra) / 2.0;
        let n = (MU_KM3_S2 / (a * a * a)).sqrt() * 86_400.0 / std::f64::consts::TAU;
        (n, (ra - rp) / (ra + rp))
    });
    let small = |lo: f64, hi: f64| {
        prop_oneof![
            Just(0.0),
            (lo..hi, 1.0..9.9999f64, any::<bool>()).prop_map(|(exp, m, neg)| {
                let v = m * 10f64.powf(exp.floor());
                if neg { -v } else { v }
            })
        ]
    };
    (
        (
            1u32..=99_999,
            name,
            object_id,
            prop::sample::select(vec!['U', 'C', 'S']),
        ),
        (-386_000_000i64..2_745_000_000, 0u32..1_000_000_000),
        orbit,
        (0.0..=180.0f64, 0.0..360.0f64, 0.0..360.0f64, 0.0..360.0f64),
        (small(-9.0, -1.0), -0.01..0.01f64, small(-13.0, -3.0)),
        (0u32..=9_999, 0u32..=99_999),
    )
        .prop_map(
            |(
                (norad_id, name, object_id, classification),
                (secs, nanos),
                (n, e),
                angles,
                drag,
                numbers,
            )| {
                ElementSet {
                    norad_id,
                    name,
                    object_id,
                    classification,
                    epoch: DateTime::from_timestamp(secs, nanos).unwrap(),
                    mean_motion_rev_day: n,
                    eccentricity: e,
                    inclination_deg: angles.0,
                    raan_deg: angles.1,
                    arg_perigee_deg: angles.2,
                    mean_anomaly_deg: angles.3,
                    ephemeris_type: 0,
                    element_set_no: numbers.0,
                    rev_at_epoch: numbers.1,
                    bstar: drag.0,
                    mean_motion_dot: drag.1,
                    mean_motion_ddot: drag.2,
                }
            },
        )
}

/// Distance between two angles on the circle, degrees.
fn angle_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Five significant digits in the assumed-decimal mantissa: half a unit of the last digit is
/// at most 5e-5 of the value, and values below 1e-14 are written as the nearest multiple.
fn assumed_decimal_close(written: f64, read: f64) -> bool {
    (written - read).abs() <= 5e-5 * written.abs() + 1e-14 + 1e-15 * read.abs()
}

proptest! {
    #[test]
    fn written_element_sets_read_back(el in element_set(), named in any::<bool>()) {
        let style = if named { TleStyle::ThreeLine } else { TleStyle::TwoLine };
        let text = write_tle(std::slice::from_ref(&el), style).unwrap();
        let catalog = load(&text).unwrap();
        prop_assert!(catalog.rejects.is_empty(), "{:?}\n{text}", catalog.rejects);
        prop_assert_eq!(catalog.objects.len(), 1);
        let back = &catalog.objects[0].elements;

        prop_assert_eq!(back.norad_id, el.norad_id);
        prop_assert_eq!(&back.name, if named { &el.name } else { "" });
        prop_assert_eq!(&back.object_id, &el.object_id);
        prop_assert_eq!(back.classification, el.classification);
        prop_assert_eq!((back.element_set_no, back.rev_at_epoch), (el.element_set_no, el.rev_at_epoch));
        // Epoch: 1e-8 day is 0.864 ms, so half of it plus the float conversion.
        let epoch_gap = (back.epoch - el.epoch).num_nanoseconds().unwrap().abs();
        prop_assert!(epoch_gap <= 433_000, "epoch off by {epoch_gap} ns");
        prop_assert!((back.inclination_deg - el.inclination_deg).abs() <= 5.0001e-5);
        for (b, a) in [
            (back.raan_deg, el.raan_deg),
            (back.arg_perigee_deg, el.arg_perigee_deg),
            (back.mean_anomaly_deg, el.mean_anomaly_deg),
        ] {
            prop_assert!(angle_gap(b, a) <= 5.0001e-5, "{a} -> {b}");
        }
        prop_assert!((back.eccentricity - el.eccentricity).abs() <= 5.0001e-8);
        prop_assert!((back.mean_motion_rev_day - el.mean_motion_rev_day).abs() <= 5.0001e-9);
        prop_assert!((back.mean_motion_dot - el.mean_motion_dot).abs() <= 5.0001e-9);
        prop_assert!(assumed_decimal_close(el.bstar, back.bstar), "{} -> {}", el.bstar, back.bstar);
        prop_assert!(
            assumed_decimal_close(el.mean_motion_ddot, back.mean_motion_ddot),
            "{} -> {}", el.mean_motion_ddot, back.mean_motion_ddot
        );

        // What was read is exactly representable, so writing it again changes nothing.
        let again = write_tle(std::slice::from_ref(back), style).unwrap();
        prop_assert_eq!(again, text);
    }
}
