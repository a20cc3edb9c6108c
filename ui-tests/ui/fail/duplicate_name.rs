use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   radar = emit(vec![1_u64]);
        operator radar = map(|n: u64| n);
        sink     out   = discard();

        radar -> out;
    };
}
