use sda_orchestrator::{Lane, pipeline};
use ui_tests::{discard, emit};

fn classify(_: &u64) -> Lane {
    Lane::Routine
}

fn main() {
    let _graph = pipeline! {
        source   radar = emit(vec![1_u64]);
        sink     out   = discard();
        sink     view  = discard();

        radar -> [broadcast = 8, priority = classify] out;
        radar -> [capacity = 4, broadcast = 8] view;
    };
}
