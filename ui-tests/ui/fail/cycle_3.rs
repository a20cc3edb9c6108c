use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   src = emit(vec![1_u64]);
        operator a   = map(|n: u64| n);
        operator b   = map(|n: u64| n);
        operator c   = map(|n: u64| n);
        sink     out = discard();

        src -> a -> b -> c -> out;
        c -> a;
    };
}
