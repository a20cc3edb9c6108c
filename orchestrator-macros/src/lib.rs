//! The `pipeline!` DSL of `sda-orchestrator`: declare an operator graph in a few lines and have
//! its topology checked at compile time.
//!
//! Use it through its re-export, `sda_orchestrator::pipeline`; the expansion names paths under
//! `::sda_orchestrator`. The macro runs in three stages, one module each: `parse` reads the
//! statements (recovering at every `;`, so that one typo does not hide the rest), `check`
//! validates attributes, names and the topology (with the same `sda-orchestrator-topology` checks
//! that `OperatorGraph::build()` runs), and `expand` writes the builder calls.

#![warn(clippy::unwrap_used, clippy::expect_used)]

mod check;
mod ctxt;
mod expand;
mod parse;
mod suggest;

use proc_macro::TokenStream;

/// Declares an `OperatorGraph` — sources, operators and sinks joined by typed, bounded edges —
/// and checks its topology at compile time.
///
/// # Syntax
///
/// The body is a list of statements, each ending in `;`, in any order:
///
/// * `source NAME = FACTORY;`, `operator NAME = FACTORY;` and `sink NAME = FACTORY;` declare a
///   vertex. `FACTORY` is any expression giving a factory (a closure, or a function returning
///   `impl SourceFactory<T>` and so on). An optional `, restart = POLICY` before the `;` gives its
///   `RestartPolicy`; without it the vertex gets `RestartPolicy::default()`. The stall watchdog's
///   settings go there too: `, stall_after = DURATION` (any `Duration` expression; 30 s without
///   it; `OperatorGraph::stall_after`) and `, on_stall = report` or `restart`
///   (`OperatorGraph::on_stall`).
/// * `a -> b;` connects two vertices; a chain `a -> b -> c;` declares one edge per arrow.
///   Attributes of an edge go in brackets before its target: `a -> [capacity = 256] b;`
///   (without one the edge gets the graph's default capacity).
///   `a -> [capacity = 64, priority = classify] b;` gives the edge an emergency and a routine
///   lane, `classify` (a `fn(&T) -> Lane`) choosing each item's (`EdgeOptions::priority`);
///   `a -> [broadcast = 16] b;` makes it a lossy broadcast ring of 16 items for a consumer
///   allowed to lag (`EdgeOptions::broadcast`). An edge is not both, and `broadcast` already
///   gives the capacity. `a -> [filter = keep] b;` sends on the edge only the items `keep` (a
///   `fn(&T) -> bool`) accepts (`EdgeOptions::filter`): with one filtered edge per kind of
///   item, an operator routes each item to where it belongs (accepted records on, rejects to a
///   dead-letter sink).
///
/// Valid attributes: `restart`, `stall_after` and `on_stall` on a declaration; `capacity`,
/// `priority`, `broadcast` and `filter` on an edge. Names are Rust identifiers and live in their own namespace: a vertex
/// called `radar` does not shadow a variable `radar` used inside a factory expression.
///
/// The macro evaluates to an `OperatorGraph` whose vertices and edges are in the order written,
/// exactly as the same `add_*` and `connect` calls written by hand. `build()` still runs its own
/// checks at run time.
///
/// # Fingerprint
///
/// The expansion also computes the topology's fingerprint (SHA-256 of its canonical
/// description: names, roles, edges with capacity, kind and filter) in a `const`, evaluated by
/// the compiler with the same `const fn`s that `OperatorGraph::fingerprint` runs, and records it
/// on the graph: `OperatorGraph::declared_fingerprint`. This needs every edge capacity to be a
/// constant: an integer literal or an `UPPER_CASE` constant (arithmetic of those included); with
/// any other capacity expression the graph has no declared fingerprint (its run-time one is
/// still there).
///
/// # Compile-time errors
///
/// Every error is reported at once, each on the tokens it is about:
///
/// * a cycle, named in order (``cycle detected: a -> b -> c -> a``), at the edge that closes it;
/// * a vertex missing an edge its role needs, at its name (``operator `dedup` has no incoming
///   edge``);
/// * an edge into a source or out of a sink, a self-edge, an edge declared twice;
/// * an unknown name, with a "did you mean" suggestion when one is close;
/// * a duplicate name, at both declarations (paired `(1/2)` and `(2/2)`);
/// * an unknown or duplicate attribute, listing the valid ones;
/// * a `stall_after` that is a bare number or a zero duration, an `on_stall` that is not
///   `report` or `restart` (with a suggestion when one is close); a `stall_after` of another
///   type is reported by the type checker at the value;
/// * an empty pipeline.
///
/// An edge between vertices whose item types do not match is reported by the type checker at
/// that edge.
///
/// After an error the macro still expands to an `OperatorGraph`: the well-formed part of the
/// pipeline, so that the factories are type-checked too and no error is reported twice.
///
/// # Panics
///
/// Never: whatever the input, the macro answers with an expansion or compile errors.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{
///     OperatorContext, RestartPolicy, SinkContext, SourceContext, SupervisorEvent,
///     SupervisorPolicy, pipeline,
/// };
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let limit = 3_u64;
/// let graph = pipeline! {
///     source   numbers = move |mut ctx: SourceContext<u64>| async move {
///         for n in 1..=limit {
///             ctx.output.send(n).await?;
///         }
///         Ok(())
///     };
///     operator square = |mut ctx: OperatorContext<u64, u64>| async move {
///         while let Some(n) = ctx.input.recv().await {
///             ctx.output.send(n * n).await?;
///         }
///         Ok(())
///     };
///     sink     total = |mut ctx: SinkContext<u64>| async move {
///         let mut sum = 0;
///         while let Some(n) = ctx.input.recv().await {
///             sum += n;
///         }
///         anyhow::ensure!(sum == 1 + 4 + 9, "lost an item: sum {sum}");
///         Ok(())
///     }, restart = RestartPolicy::Never;
///
///     numbers -> square -> [capacity = 16] total;
/// };
///
/// assert_eq!(graph.topology().vertices.len(), 3);
/// let outcome = graph.build()?.run(SupervisorPolicy::default()).await;
/// assert_eq!(outcome, SupervisorEvent::CleanShutdown);
/// # Ok::<(), anyhow::Error>(())
/// # })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
///
/// A mistake in the topology does not compile:
///
/// ```compile_fail
/// use sda_orchestrator::{SinkContext, SourceContext, pipeline};
///
/// let graph = pipeline! {
///     source radar = |_ctx: SourceContext<u64>| async { Ok(()) };
///     sink archive = |_ctx: SinkContext<u64>| async { Ok(()) };
///     radr -> archive; // error: unknown vertex `radr`: did you mean `radar`?
/// };
/// ```
#[proc_macro]
pub fn pipeline(input: TokenStream) -> TokenStream {
    let mut cx = ctxt::Ctxt::new();
    let pipeline = parse::parse(input.into(), &mut cx);
    let plan = check::check(&pipeline, &mut cx);
    expand::expand(&plan, cx.finish().err().as_ref()).into()
}

#[cfg(test)]
mod tests;
