//! Fuzz target `optical_page`: see `sda_ingest_fuzz::optical_page` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sda_ingest_fuzz::optical_page(data);
});
