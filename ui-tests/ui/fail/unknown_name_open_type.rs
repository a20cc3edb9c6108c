// The misspelt edge was the only one to fix the sink's item type; the type checker says nothing
// about that, only the macro's error shows.
use sda_orchestrator::pipeline;
use ui_tests::{discard, emit};

fn main() {
    let _graph = pipeline! {
        source radar   = emit(vec![1_u64]);
        sink   archive = discard();

        radar -> archve;
    };
}
