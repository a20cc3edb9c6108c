// A pipeline declared with the macro runs to completion and delivers every item.
use std::sync::{Arc, Mutex};

use sda_orchestrator::{RestartPolicy, SupervisorEvent, SupervisorPolicy, pipeline};
use ui_tests::{collect, emit, map};

fn main() -> anyhow::Result<()> {
    let evens = Arc::new(Mutex::new(Vec::new()));
    let odds = Arc::new(Mutex::new(Vec::new()));
    let graph = pipeline! {
        source   numbers = emit((1..=10_u64).collect()), restart = RestartPolicy::Never;
        operator even    = map(|n: u64| n * 2);
        operator odd     = map(|n: u64| n * 2 + 1);
        sink     evens   = collect(Arc::clone(&evens));
        sink     odds    = collect(Arc::clone(&odds));

        numbers -> [capacity = 1] even -> evens;
        numbers -> odd -> [capacity = 2] odds;
    };

    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(graph.build()?.run(SupervisorPolicy::default()));
    assert_eq!(outcome, SupervisorEvent::CleanShutdown);
    assert_eq!(*evens.lock().unwrap(), (1..=10).map(|n| n * 2).collect::<Vec<u64>>());
    assert_eq!(*odds.lock().unwrap(), (1..=10).map(|n| n * 2 + 1).collect::<Vec<u64>>());
    Ok(())
}
