use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   src  = emit(vec![1_u64]);
        operator ping = map(|n: u64| n);
        operator pong = map(|n: u64| n);
        sink     out  = discard();

        src -> out;
        src -> ping -> pong;
        pong -> ping;
    };
}
