//! `GET /openapi.json`: the control plane's OpenAPI 3.1 document, generated from the handlers'
//! annotations and the response types' schemas, with one path per ring served by
//! `ControlPlane::with_recent` and per view served by `ControlPlane::with_view`.

use axum::Json;
use axum::extract::State;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::ControlPlane;
use super::{console, control, edges, events, health, operators, prometheus};
use super::{recent, topology, view};

/// The document's static part: every fixed route and every schema.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sda-orchestrator control plane",
        description = "Health, metrics, topology, operators, edges, a live event stream, an \
                       operations console, and pause/resume and throttling of sources. Every \
                       error is \
                       `{\"error\": \"...\"}`; request bodies over the limit are refused with \
                       413.",
    ),
    paths(
        console::console,
        health::health,
        prometheus::metrics,
        topology::topology,
        operators::operators,
        edges::edges,
        events::events,
        serve,
        control::pause,
        control::resume,
        control::throttle,
        control::unthrottle,
        recent::recent,
        view::view,
    ),
    components(schemas(
        events::Snapshot,
        events::OperatorRates,
        events::EdgeRates,
        events::Lagged,
        topology::TopologyFormat,
        crate::events::Event,
        super::ControlRecord,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "console", description = "The operations console"),
        (name = "observe", description = "Read-only views of the graph"),
        (name = "control", description = "Changing the graph's state: bearer token required"),
        (name = "meta", description = "This document"),
    )
)]
struct Document;

/// Adds the bearer scheme the control routes name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document for `plane`: the static part, with the ring template moved to each ring's path.
pub(crate) fn document(plane: &ControlPlane) -> utoipa::openapi::OpenApi {
    let mut document = Document::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let template = document.paths.paths.remove(recent::TEMPLATE_PATH);
    if let Some(template) = template {
        for name in plane.recent.keys() {
            let mut item = template.clone();
            if let Some(get) = item.get.as_mut() {
                get.operation_id = Some(format!("recent_{}", name.replace('-', "_")));
                get.summary = Some(format!("The latest items of `{name}`, newest first"));
            }
            document.paths.paths.insert(format!("/{name}"), item);
        }
    }
    let template = document.paths.paths.remove(view::TEMPLATE_PATH);
    if let Some(template) = template {
        for name in plane.views.keys() {
            let mut item = template.clone();
            if let Some(get) = item.get.as_mut() {
                get.operation_id = Some(format!("view_{}", name.replace('-', "_")));
                get.summary = Some(format!("The application's `{name}` view"));
            }
            document.paths.paths.insert(format!("/{name}"), item);
        }
    }
    document
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn serve(State(plane): State<ControlPlane>) -> Json<utoipa::openapi::OpenApi> {
    Json(document(&plane))
}
