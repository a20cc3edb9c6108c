//! Fuzz target `radar_datagram`: see `sda_ingest_fuzz::radar_datagram` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sda_ingest_fuzz::radar_datagram(data);
});
