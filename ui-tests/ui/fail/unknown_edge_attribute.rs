use sda_orchestrator::pipeline;
use ui_tests::{discard, emit};

fn main() {
    let _graph = pipeline! {
        source   radar = emit(vec![1_u64]);
        sink     out   = discard();

        radar -> [capacity = 8, lossy = true] out;
    };
}
