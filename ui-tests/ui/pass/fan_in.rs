use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let graph = pipeline! {
        source   radar     = emit(vec![1_u64]);
        source   optical   = emit(vec![2_u64]);
        source   isl       = emit(vec![3_u64]);
        operator normalize = map(|n: u64| n);
        sink     archive   = discard();

        radar -> normalize;
        optical -> normalize;
        isl -> normalize;
        normalize -> archive;
    };
    assert_eq!(graph.topology().edges.len(), 4);
    assert!(graph.build().is_ok());
}
