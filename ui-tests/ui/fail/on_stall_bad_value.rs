use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   radar  = emit(vec![1_u64]);
        operator decode = map(|n: u64| n), on_stall = restrat;
        operator screen = map(|n: u64| n), on_stall = "report";
        sink     out    = discard(), on_stall = crash;

        radar -> decode -> screen -> out;
    };
}
