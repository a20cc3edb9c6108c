//! Content-based routing: one operator, two filtered edges, each item to where it belongs.

use sda_orchestrator::{RestartPolicy, pipeline};
use ui_tests::{collect, emit};

fn is_accepted(reading: &Result<u64, String>) -> bool {
    reading.is_ok()
}

fn is_rejected(reading: &Result<u64, String>) -> bool {
    reading.is_err()
}

fn main() {
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rejected = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let graph = pipeline! {
        source readings = emit(vec![Ok(1_u64), Err("bad".to_owned()), Ok(3)]);
        sink   archive  = collect(accepted.clone()), restart = RestartPolicy::Never;
        sink   dead     = collect(rejected.clone()), restart = RestartPolicy::Never;

        readings -> [filter = is_accepted] archive;
        readings -> [capacity = 8, filter = is_rejected] dead;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(graph.build().unwrap().run(Default::default()));
    assert!(outcome.is_clean());
    assert_eq!(*accepted.lock().unwrap(), vec![Ok(1), Ok(3)]);
    assert_eq!(*rejected.lock().unwrap(), vec![Err("bad".to_owned())]);
}
