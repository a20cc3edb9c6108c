use std::time::Duration;

use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   radar  = emit(vec![1_u64]);
        operator decode = map(|n: u64| n), stall_after = 30;
        operator screen = map(|n: u64| n), stall_after = Duration::from_secs(0);
        sink     out    = discard(), stall_after = Duration::ZERO;

        radar -> decode -> screen -> out;
    };
}
