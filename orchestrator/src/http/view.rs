//! `GET /{view}`: read-only JSON views an application adds to the control plane with
//! [`ControlPlane::with_view`](super::ControlPlane::with_view), such as a domain summary that
//! operators want next to the graph's own state.

use std::sync::Arc;

use axum::Json;
use axum::routing::{MethodRouter, get};
use thiserror::Error;

use super::ControlPlane;

/// What a view answers: called on every request, on the request's task.
pub(crate) type View = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The first path segments the control plane's own routes use, which a view cannot take.
pub(crate) const RESERVED: &[&str] = &["health", "metrics", "topology", "operators"];

/// Why [`ControlPlane::with_view`](super::ControlPlane::with_view) refused a view.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewError {
    /// The name is not 1 to 64 lowercase ASCII letters, digits and dashes.
    #[error("view name {0:?} must be 1 to 64 lowercase letters, digits and dashes")]
    InvalidName(String),
    /// The name is a route already: one of the control plane's own, or another view's.
    #[error("view name {0:?} is already a route")]
    Taken(String),
}

/// Checks that `name` can be the path of a new view beside `taken`.
pub(crate) fn check_name<'a>(
    name: &str,
    mut taken: impl Iterator<Item = &'a String>,
) -> Result<(), ViewError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(ViewError::InvalidName(name.chars().take(64).collect()));
    }
    if RESERVED.contains(&name) || taken.any(|t| t == name) {
        return Err(ViewError::Taken(name.to_owned()));
    }
    Ok(())
}

/// The handler of one view: its current value as JSON.
pub(crate) fn route(view: View) -> MethodRouter<ControlPlane> {
    get(move || {
        let value = view();
        async move { Json(value) }
    })
}
