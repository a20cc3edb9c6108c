//! The factory traits: how a vertex's future is made, again on every restart.
//!
//! Each trait is implemented for every closure of the right shape, and has the closure's
//! `FnMut` signature as a supertrait so that closures passed to `add_*` get their argument type
//! inferred, and helper functions can return `impl SourceFactory<T>`.

use std::future::Future;

use crate::{OperatorContext, SinkContext, SourceContext};

/// Makes a source's future from its context. Called once per start, so a restart gets a fresh
/// future over the same edges.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{SourceContext, SourceFactory};
///
/// fn counter(limit: u64) -> impl SourceFactory<u64> {
///     move |mut ctx: SourceContext<u64>| async move {
///         for n in 0..limit {
///             ctx.output.send(n).await?;
///         }
///         Ok(())
///     }
/// }
/// # let _ = counter(3);
/// ```
pub trait SourceFactory<O>:
    FnMut(SourceContext<O>) -> <Self as SourceFactory<O>>::Future + Send + 'static
{
    /// The future the factory returns.
    type Future: Future<Output = anyhow::Result<()>> + Send + 'static;
}

impl<O, F, Fut> SourceFactory<O> for F
where
    F: FnMut(SourceContext<O>) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    type Future = Fut;
}

/// Makes an operator's future from its context. Called once per start.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorContext, OperatorFactory};
///
/// fn double() -> impl OperatorFactory<u64, u64> {
///     |mut ctx: OperatorContext<u64, u64>| async move {
///         while let Some(n) = ctx.input.recv().await {
///             ctx.output.send(n * 2).await?;
///         }
///         Ok(())
///     }
/// }
/// # let _ = double();
/// ```
pub trait OperatorFactory<I, O>:
    FnMut(OperatorContext<I, O>) -> <Self as OperatorFactory<I, O>>::Future + Send + 'static
{
    /// The future the factory returns.
    type Future: Future<Output = anyhow::Result<()>> + Send + 'static;
}

impl<I, O, F, Fut> OperatorFactory<I, O> for F
where
    F: FnMut(OperatorContext<I, O>) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    type Future = Fut;
}

/// Makes a sink's future from its context. Called once per start.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{SinkContext, SinkFactory};
///
/// fn discard<T: Send + 'static>() -> impl SinkFactory<T> {
///     |mut ctx: SinkContext<T>| async move {
///         while ctx.input.recv().await.is_some() {}
///         Ok(())
///     }
/// }
/// # let _ = discard::<u8>();
/// ```
pub trait SinkFactory<I>:
    FnMut(SinkContext<I>) -> <Self as SinkFactory<I>>::Future + Send + 'static
{
    /// The future the factory returns.
    type Future: Future<Output = anyhow::Result<()>> + Send + 'static;
}

impl<I, F, Fut> SinkFactory<I> for F
where
    F: FnMut(SinkContext<I>) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    type Future = Fut;
}
