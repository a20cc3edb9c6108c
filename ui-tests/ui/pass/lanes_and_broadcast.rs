use std::sync::{Arc, Mutex};

use sda_orchestrator::{Lane, SupervisorPolicy, pipeline};
use ui_tests::{collect, discard, emit, map};

fn classify(n: &u64) -> Lane {
    if *n >= 100 {
        Lane::Emergency
    } else {
        Lane::Routine
    }
}

fn main() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let graph = pipeline! {
        source   readings = emit(vec![1_u64, 2, 300]);
        operator double   = map(|n: u64| n * 2);
        sink     archive  = collect(seen.clone());
        sink     view     = discard();

        readings -> [capacity = 64, priority = classify] double;
        double -> archive;
        double -> [broadcast = 16] view;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(graph.build().unwrap().run(SupervisorPolicy::default()));
    assert!(outcome.is_clean());
    assert_eq!(seen.lock().unwrap().len(), 3);
}
