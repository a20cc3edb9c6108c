// A 24-vertex topology: four sources, four lanes of four operators, a merge, three sinks.
use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let graph = pipeline! {
        source   s0 = emit(vec![0_u64]);
        source   s1 = emit(vec![1_u64]);
        source   s2 = emit(vec![2_u64]);
        source   s3 = emit(vec![3_u64]);
        operator lane0_0 = map(|n: u64| n + 0);
        operator lane0_1 = map(|n: u64| n + 1);
        operator lane0_2 = map(|n: u64| n + 2);
        operator lane0_3 = map(|n: u64| n + 3);
        operator lane1_0 = map(|n: u64| n + 0);
        operator lane1_1 = map(|n: u64| n + 1);
        operator lane1_2 = map(|n: u64| n + 2);
        operator lane1_3 = map(|n: u64| n + 3);
        operator lane2_0 = map(|n: u64| n + 0);
        operator lane2_1 = map(|n: u64| n + 1);
        operator lane2_2 = map(|n: u64| n + 2);
        operator lane2_3 = map(|n: u64| n + 3);
        operator lane3_0 = map(|n: u64| n + 0);
        operator lane3_1 = map(|n: u64| n + 1);
        operator lane3_2 = map(|n: u64| n + 2);
        operator lane3_3 = map(|n: u64| n + 3);
        operator merge = map(|n: u64| n);
        sink     out0 = discard();
        sink     out1 = discard();
        sink     out2 = discard();

        s0 -> lane0_0 -> lane0_1 -> lane0_2 -> lane0_3 -> merge;
        s1 -> lane1_0 -> lane1_1 -> lane1_2 -> lane1_3 -> merge;
        s2 -> lane2_0 -> lane2_1 -> lane2_2 -> lane2_3 -> merge;
        s3 -> lane3_0 -> lane3_1 -> lane3_2 -> lane3_3 -> merge;
        merge -> out0;
        merge -> [capacity = 64] out1;
        merge -> out2;
    };
    let topology = graph.topology();
    assert_eq!(topology.vertices.len(), 24);
    assert_eq!(topology.edges.len(), 23);
    assert!(graph.build().is_ok());
}
