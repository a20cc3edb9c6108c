use sda_orchestrator::pipeline;
use ui_tests::{discard, emit};

fn main() {
    let _graph = pipeline! {
        source   radar   = emit(vec![1_u64]);
        source   optical = emit(vec![2_u64]);
        sink     out     = discard();

        radar -> out;
        optical -> out;
        radar -> optical;
    };
}
