//! Runs every committed seed (and any regression input added to `seeds/<target>/`) through the
//! same invariant checks the fuzz targets use, on stable and without libFuzzer:
//!
//! ```text
//! cargo test --manifest-path sda-ingest/fuzz/Cargo.toml
//! ```

use std::fs;
use std::path::Path;

fn run_seeds(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "seed {} violates an invariant",
            path.display()
        );
        count += 1;
    }
    assert!(count > 0, "no seeds in {}", dir.display());
}

#[test]
fn radar_datagram() {
    run_seeds("radar_datagram", |d| {
        sda_ingest_fuzz::radar_datagram(d);
    });
}

#[test]
fn isl_stream() {
    run_seeds("isl_stream", sda_ingest_fuzz::isl_stream);
}

#[test]
fn optical_page() {
    run_seeds("optical_page", |d| {
        sda_ingest_fuzz::optical_page(d);
    });
}

#[test]
fn synthetic_record() {
    run_seeds("synthetic_record", |d| {
        sda_ingest_fuzz::synthetic_record(d);
    });
}

#[test]
fn normalize_frame() {
    run_seeds("normalize_frame", sda_ingest_fuzz::normalize_frame);
}
