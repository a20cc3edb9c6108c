//! Shared factories for the `pipeline!` test cases: a source that emits a fixed list, an
//! operator that maps, and a sink that collects into a shared vector, so that each trybuild case
//! and integration test stays a few lines long.

#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use sda_orchestrator::{Message, OperatorFactory, SinkFactory, SourceFactory};

/// A source that sends each of `items` once, then finishes.
pub fn emit<T: Message + Clone + Sync>(items: Vec<T>) -> impl SourceFactory<T> {
    let items: Arc<[T]> = items.into();
    move |mut ctx| {
        let items = Arc::clone(&items);
        async move {
            for item in items.iter() {
                ctx.output.send(item.clone()).await?;
            }
            Ok(())
        }
    }
}

/// An operator that sends `f(item)` for each item it receives.
pub fn map<I: Message, O: Message>(f: fn(I) -> O) -> impl OperatorFactory<I, O> {
    move |mut ctx| async move {
        while let Some(item) = ctx.input.recv().await {
            ctx.output.send(f(item)).await?;
        }
        Ok(())
    }
}

/// A sink that appends every item it receives to `into`.
pub fn collect<T: Message>(into: Arc<Mutex<Vec<T>>>) -> impl SinkFactory<T> {
    move |mut ctx| {
        let into = Arc::clone(&into);
        async move {
            while let Some(item) = ctx.input.recv().await {
                into.lock()
                    .map_err(|_| anyhow::anyhow!("collector poisoned"))?
                    .push(item);
            }
            Ok(())
        }
    }
}

/// A sink that drops every item it receives.
pub fn discard<T: Message>() -> impl SinkFactory<T> {
    |mut ctx| async move {
        while ctx.input.recv().await.is_some() {}
        Ok(())
    }
}
