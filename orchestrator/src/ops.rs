//! Ready-made operator factories for the plumbing a graph needs between stages of different
//! item types.
//!
//! An operator has one input type, so two producers of different types can only meet in one
//! operator through a common type, usually an enum; [`map`] is the adapter that lifts one
//! producer's items into it (`Observation` into `Input::Observation`, say), as a vertex of its
//! own so that it is supervised, counted and shown in the topology like any other.

use crate::{Message, OperatorContext, OperatorFactory};

/// Items [`map`] takes from its input per wake-up.
const BATCH: usize = 256;

/// An operator that hands on `f(item)` for every item of its input, in order.
///
/// It takes its input a batch at a time ([`Inbox::recv_many`](crate::Inbox::recv_many)) and
/// sends the mapped batch with one [`Outbox::send_batch`](crate::Outbox::send_batch), so the
/// hop costs little more than the edge itself. It holds no state: a restart loses at most the
/// batch in hand, and the items still queued on its input wait for the next incarnation. It
/// finishes when its input is closed and drained, and fails when its output edge has closed.
///
/// `f` should be cheap and must not block: it runs on the operator's task.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy, ops};
///
/// #[derive(Debug, Clone, PartialEq)]
/// enum Input {
///     Reading(f64),
///     Reset,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut graph = OperatorGraph::new();
/// let readings = graph.add_source("readings", RestartPolicy::default(), |mut ctx| async move {
///     for value in [1.5_f64, 2.5] {
///         ctx.output.send(value).await?;
///     }
///     Ok(())
/// });
/// let resets = graph.add_source("resets", RestartPolicy::default(), |mut ctx| async move {
///     ctx.output.send(Input::Reset).await?;
///     Ok(())
/// });
/// let lift = graph.add_operator("lift", RestartPolicy::default(), ops::map(Input::Reading));
/// let total = graph.add_sink("total", RestartPolicy::Never, |mut ctx| async move {
///     let (mut sum, mut resets) = (0.0, 0);
///     while let Some(input) = ctx.input.recv().await {
///         match input {
///             Input::Reading(value) => sum += value,
///             Input::Reset => resets += 1,
///         }
///     }
///     assert_eq!((sum, resets), (4.0, 1));
///     Ok(())
/// });
/// graph.connect(&readings, &lift).connect(&lift, &total).connect(&resets, &total);
///
/// let outcome = graph.build()?.run(SupervisorPolicy::default()).await;
/// assert_eq!(outcome, SupervisorEvent::CleanShutdown);
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// # }).unwrap();
/// ```
pub fn map<I, O, F>(f: F) -> impl OperatorFactory<I, O>
where
    I: Message,
    O: Message,
    F: Fn(I) -> O + Clone + Send + Sync + 'static,
{
    move |mut ctx: OperatorContext<I, O>| {
        let f = f.clone();
        async move {
            let (mut items, mut out) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            while ctx.input.recv_many(&mut items, BATCH).await > 0 {
                out.extend(items.drain(..).map(&f));
                ctx.output.send_batch(&mut out).await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::{OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy};

    #[tokio::test]
    async fn every_item_is_mapped_once_in_order() {
        let mut graph = OperatorGraph::new();
        let numbers = graph.add_source("numbers", RestartPolicy::default(), |mut ctx| async move {
            let mut batch: Vec<u32> = (0..1_000).collect();
            ctx.output.send_batch(&mut batch).await?;
            Ok(())
        });
        let lift = graph.add_operator(
            "lift",
            RestartPolicy::default(),
            map(|n: u32| u64::from(n) * 3),
        );
        let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
        let kept = Arc::clone(&seen);
        let out = graph.add_sink("out", RestartPolicy::Never, move |mut ctx| {
            let kept = Arc::clone(&kept);
            async move {
                while let Some(n) = ctx.input.recv().await {
                    kept.lock().unwrap().push(n);
                }
                Ok(())
            }
        });
        graph.connect(&numbers, &lift).connect(&lift, &out);
        let outcome = graph
            .build()
            .unwrap()
            .run(SupervisorPolicy::default())
            .await;
        assert_eq!(outcome, SupervisorEvent::CleanShutdown);
        let expected: Vec<u64> = (0..1_000).map(|n| n * 3).collect();
        assert_eq!(*seen.lock().unwrap(), expected);
    }
}
