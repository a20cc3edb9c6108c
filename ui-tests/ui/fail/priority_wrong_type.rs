use sda_orchestrator::{Lane, pipeline};
use ui_tests::{discard, emit};

fn classify(_: &String) -> Lane {
    Lane::Routine
}

fn main() {
    let _graph = pipeline! {
        source   radar = emit(vec![1_u64]);
        sink     out   = discard();

        radar -> [priority = classify] out;
    };
}
