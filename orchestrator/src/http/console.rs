//! `GET /`: the operations console, one self-contained page (HTML, CSS and JavaScript embedded
//! in the binary; nothing is fetched from elsewhere).
//!
//! The page reads `/topology` once and lays the graph out left to right, one column per
//! topological depth; `/events` then drives it: each `snapshot` colours the operators by state
//! and the edges by fill level (with depth/capacity, restarts and throughput) and labels each
//! edge with how far its event-time watermark is behind the wall clock ("no watermark" before
//! the first; in graphs too large to label, in the edge's tooltip and the selected operator's
//! details), each `supervisor` event joins the live log. Pause and resume ask for the bearer token (kept in
//! the page's memory only) and call the control endpoints.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The page, its style and its script, assembled at compile time.
const PAGE: &str = concat!(
    include_str!("console/head.html"),
    "<style>",
    include_str!("console/console.css"),
    "</style>",
    include_str!("console/body.html"),
    "<script>",
    include_str!("console/console.js"),
    "</script></body></html>\n",
);

/// What the page may load: only from the control plane itself.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                      connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                      form-action 'none'; frame-ancestors 'none'";

/// The operations console.
#[utoipa::path(
    get,
    path = "/",
    tag = "console",
    responses((status = 200, description = "The console page", content_type = "text/html", body = String))
)]
pub(crate) async fn console() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}
