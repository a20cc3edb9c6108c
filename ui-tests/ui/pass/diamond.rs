use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let graph = pipeline! {
        source   top    = emit(vec![1_u64]);
        operator left   = map(|n: u64| n + 1);
        operator right  = map(|n: u64| n * 2);
        operator bottom = map(|n: u64| n);
        sink     out    = discard();

        top -> left -> bottom;
        top -> right -> bottom;
        bottom -> out;
    };
    assert_eq!(graph.topology().edges.len(), 5);
    assert!(graph.build().is_ok());
}
