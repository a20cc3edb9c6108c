//! `GET /{view}`: read-only JSON views an application adds to the control plane with
//! [`ControlPlane::with_view`](super::ControlPlane::with_view), such as a domain summary that
//! operators want next to the graph's own state.

use std::sync::Arc;

use super::ControlPlane;
use axum::Json;
use axum::routing::{MethodRouter, get};

/// What a view answers: called on every request, on the request's task.
pub(crate) type View = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The path the template operation is documented under; the document moves it to each view's
/// own path.
pub(crate) const TEMPLATE_PATH: &str = "/__view__";

/// A view the application added: its current value, as JSON of the application's shape.
#[utoipa::path(
    get,
    path = "/__view__",
    tag = "observe",
    responses((status = 200, description = "The view's current value", body = Object))
)]
#[allow(dead_code)] // documents the route; `route` serves it
pub(crate) async fn view() {}

/// The handler of one view: its current value as JSON.
pub(crate) fn route(view: View) -> MethodRouter<ControlPlane> {
    get(move || {
        let value = view();
        async move { Json(value) }
    })
}
