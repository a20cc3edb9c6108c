//! Fuzz target `isl_stream`: see `sda_ingest_fuzz::isl_stream` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sda_ingest_fuzz::isl_stream(data);
});
