use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   radar  = emit(vec![1_u64]);
        operator label  = map(|n: u64| format!("#{n}"));
        sink     counts = discard::<u64>();

        radar -> label -> counts;
    };
}
