//! Small factories shared by the integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use sda_orchestrator::monitor::GraphMonitor;
use sda_orchestrator::{
    Message, OperatorContext, OperatorFactory, OperatorGraph, SinkFactory, SourceFactory,
    SupervisorEvent, SupervisorPolicy,
};

/// A source that sends `items` in order, then finishes.
pub(crate) fn send_all<T: Message + Sync>(items: Vec<T>) -> impl SourceFactory<T> {
    let items = Arc::new(items);
    move |mut ctx: sda_orchestrator::SourceContext<T>| {
        let items = Arc::clone(&items);
        async move {
            for item in items.iter() {
                ctx.output.send(item.clone()).await?;
            }
            Ok(())
        }
    }
}

/// A sink that appends everything it receives to `store`.
pub(crate) fn collect<T: Message>(store: Arc<Mutex<Vec<T>>>) -> impl SinkFactory<T> {
    move |mut ctx: sda_orchestrator::SinkContext<T>| {
        let store = Arc::clone(&store);
        async move {
            while let Some(item) = ctx.input.recv().await {
                store.lock().unwrap().push(item);
            }
            Ok(())
        }
    }
}

pub(crate) fn store<T>() -> Arc<Mutex<Vec<T>>> {
    Arc::new(Mutex::new(Vec::new()))
}

pub(crate) fn taken<T: Clone>(store: &Arc<Mutex<Vec<T>>>) -> Vec<T> {
    store.lock().unwrap().clone()
}

/// An operator that forwards every item unchanged.
pub(crate) fn pass_through<T: Message>() -> impl OperatorFactory<T, T> {
    |mut ctx: OperatorContext<T, T>| async move {
        while let Some(item) = ctx.input.recv().await {
            ctx.output.send(item).await?;
        }
        Ok(())
    }
}

/// Builds and runs `graph` with the default policy and returns how it ended.
pub(crate) async fn run_graph(graph: OperatorGraph) -> SupervisorEvent {
    graph
        .build()
        .expect("the graph builds")
        .run(SupervisorPolicy::default())
        .await
}

/// Builds and runs `graph` with the default policy, asserts that it ended cleanly, and returns
/// its monitor for further checks.
pub(crate) async fn run_to_completion(graph: OperatorGraph) -> GraphMonitor {
    let built = graph.build().expect("the graph builds");
    let monitor = built.monitor();
    assert_eq!(
        built.run(SupervisorPolicy::default()).await,
        SupervisorEvent::CleanShutdown
    );
    monitor
}
