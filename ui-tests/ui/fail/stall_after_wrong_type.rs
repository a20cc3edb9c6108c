use sda_orchestrator::pipeline;
use ui_tests::{discard, emit};

fn main() {
    let _graph = pipeline! {
        source   radar = emit(vec![1_u64]);
        sink     out   = discard(), stall_after = "30s";

        radar -> out;
    };
}
