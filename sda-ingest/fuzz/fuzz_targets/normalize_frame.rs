//! Fuzz target `normalize_frame`: see `sda_ingest_fuzz::normalize_frame` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sda_ingest_fuzz::normalize_frame(data);
});
