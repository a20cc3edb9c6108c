//! The names an application may add routes under: the rings of
//! [`ControlPlane::with_recent`](super::ControlPlane::with_recent) and the views of
//! [`ControlPlane::with_view`](super::ControlPlane::with_view) share one check, so neither can
//! shadow a fixed route or the other.

use thiserror::Error;

/// The first path segments of the fixed routes, which an added route cannot take.
pub(crate) const RESERVED: &[&str] = &[
    "health",
    "metrics",
    "topology",
    "operators",
    "edges",
    "events",
    "openapi.json",
];

/// Why [`ControlPlane::with_recent`](super::ControlPlane::with_recent) or
/// [`ControlPlane::with_view`](super::ControlPlane::with_view) refused a name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RouteNameError {
    /// The name is not 1 to 64 lowercase ASCII letters, digits and dashes.
    #[error("route name {0:?} must be 1 to 64 lowercase letters, digits and dashes")]
    InvalidName(String),
    /// The name is a route already: one of the control plane's own, or another ring's or view's.
    #[error("route name {0:?} is already a route")]
    Taken(String),
}

/// Checks that `name` can be the path of a new route beside the added routes `taken`.
pub(crate) fn check_name<'a>(
    name: &str,
    mut taken: impl Iterator<Item = &'a String>,
) -> Result<(), RouteNameError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(RouteNameError::InvalidName(name.chars().take(64).collect()));
    }
    if RESERVED.contains(&name) || taken.any(|t| t == name) {
        return Err(RouteNameError::Taken(name.to_owned()));
    }
    Ok(())
}
