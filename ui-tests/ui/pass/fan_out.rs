use sda_orchestrator::pipeline;
use ui_tests::{discard, emit};

fn main() {
    let graph = pipeline! {
        source numbers = emit(vec![1_u64, 2]);
        sink   archive = discard();
        sink   audit   = discard();
        sink   alerts  = discard();

        numbers -> archive;
        numbers -> [capacity = 4] audit;
        numbers -> alerts;
    };
    assert_eq!(graph.topology().edges.len(), 3);
    assert!(graph.build().is_ok());
}
