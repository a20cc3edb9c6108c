//! Fuzz target `synthetic_record`: see `sda_ingest_fuzz::synthetic_record` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sda_ingest_fuzz::synthetic_record(data);
});
