//! The realistic population has the public catalog's regimes in their proportions, and every
//! object in it loads and propagates for a day.

use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::elements::{CatalogFormat, load};

const EPOCH: f64 = 1_704_067_200.0;

#[test]
fn regimes_in_public_catalog_proportions() {
    let n = 2_000;
    let catalog = Catalog::realistic(11, n, 40_001, EPOCH).unwrap();
    let loaded = load(&catalog.to_tle_text()).unwrap();
    assert_eq!(loaded.format, CatalogFormat::ThreeLine);
    assert!(loaded.rejects.is_empty(), "{:?}", loaded.rejects);
    assert_eq!(loaded.objects.len(), n);
    let (mut leo, mut meo, mut geo, mut eccentric) = (0, 0, 0, 0);
    for o in &loaded.objects {
        let el = &o.elements;
        let (mm, e) = (el.mean_motion_rev_day, el.eccentricity);
        if e > 0.2 {
            eccentric += 1;
        } else if mm > 11.0 {
            leo += 1;
        } else if (1.7..2.6).contains(&mm) {
            meo += 1;
        } else if (0.9..1.1).contains(&mm) {
            geo += 1;
        } else {
            panic!("object outside every regime: {el:?}");
        }
    }
    let share = |k: usize| k as f64 / n as f64;
    assert!((share(leo) - 0.87).abs() < 0.01, "leo {leo}");
    assert!((share(meo) - 0.03).abs() < 0.005, "meo {meo}");
    assert!((share(geo) - 0.05).abs() < 0.005, "geo {geo}");
    assert!(
        (share(eccentric) - 0.05).abs() < 0.005,
        "gto and heo {eccentric}"
    );
    // The constellation shells are the densest part of the catalog: a quarter of all objects
    // within a few kilometres of 530..570 km.
    let shells = loaded
        .objects
        .iter()
        .filter(|o| o.elements.name.starts_with("SHELL"))
        .count();
    assert_eq!(shells, n / 4);
    // Epochs: constellations at the reference epoch, the rest up to a day and a half older.
    assert_eq!(loaded.newest_epoch.timestamp() as f64, EPOCH);
    assert!(EPOCH - loaded.oldest_epoch.timestamp() as f64 > 86_400.0);
}

#[test]
fn every_object_propagates_through_the_next_day() {
    let catalog = Catalog::realistic(5, 600, 40_001, EPOCH).unwrap();
    let loaded = load(&catalog.to_tle_text()).unwrap();
    for o in &loaded.objects {
        for hour in 0..=24 {
            let state = o.propagator.state_at(EPOCH + 3_600.0 * f64::from(hour));
            assert!(state.is_ok(), "{} at {hour} h: {state:?}", o.elements.name);
        }
    }
}

#[test]
fn the_seed_decides_the_catalog() {
    let a = Catalog::realistic(1, 300, 40_001, EPOCH).unwrap();
    assert_eq!(a, Catalog::realistic(1, 300, 40_001, EPOCH).unwrap());
    assert_ne!(a, Catalog::realistic(2, 300, 40_001, EPOCH).unwrap());
}
