use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   radar     = emit(vec![1_u64]);
        operator normalize = map(|n: u64| n);
        sink     archive   = discard();

        radr -> normalize -> archive;
    };
}
