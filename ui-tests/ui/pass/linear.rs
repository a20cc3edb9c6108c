use sda_orchestrator::{RestartPolicy, pipeline};
use ui_tests::{discard, emit, map};

fn main() {
    let graph = pipeline! {
        source   numbers = emit(vec![1_u64, 2, 3]), restart = RestartPolicy::Never;
        operator double  = map(|n: u64| n * 2);
        operator label   = map(|n: u64| format!("#{n}"));
        sink     out     = discard::<String>(), restart = RestartPolicy::Always;

        numbers -> double -> [capacity = 8] label -> out;
    };
    let topology = graph.topology();
    assert_eq!(topology.vertices.len(), 4);
    assert_eq!(topology.edges.len(), 3);
    assert_eq!(topology.edges[1].capacity, 8);
    assert!(graph.build().is_ok());
}
