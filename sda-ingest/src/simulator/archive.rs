//! The simulator's optical archive: an HTTP server on loopback that serves the scenario's
//! pages by cursor, released at the paced rate, for the [optical poller](mod@crate::transport::optical_http).
//!
//! Cursors are page numbers across all passes (`"0"`, `"1"`, …). A page that has not come due
//! yet is answered with an empty page naming the same cursor ("nothing new yet"). After the
//! last page of the last pass `next_cursor` is `null`; without a pass limit the archive serves
//! one pass and then answers "nothing new" until the run ends, like a quiet archive.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::time::Instant;

use sda_ingest_core::sim::scenario::OPTICAL_PAGE_LEN;
use sda_ingest_core::wire::optical::OpticalPage;

use super::pacing::{Pacing, due};

/// The archive's pages and pace.
#[derive(Debug, Clone)]
pub struct ArchiveSimulator {
    pages: Arc<[Bytes]>,
    pacing: Pacing,
    started: Instant,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    cursor: Option<String>,
}

impl ArchiveSimulator {
    /// An archive serving `pages` (one scenario pass) at `pacing`, its clock starting now.
    pub fn new(pages: Arc<[Bytes]>, pacing: Pacing) -> Self {
        ArchiveSimulator {
            pages,
            pacing,
            started: Instant::now(),
        }
    }

    /// The router: `GET /observations[?cursor=N]`.
    pub fn app(self) -> Router {
        Router::new()
            .route("/observations", get(observations))
            .with_state(self)
    }

    /// Serves the archive on `listener` until the task is dropped or aborted.
    ///
    /// # Errors
    ///
    /// The listener fails.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.app()).await
    }

    /// Pages across all passes; `None` when there is no pass limit.
    fn total(&self) -> Option<u64> {
        let len = self.pages.len() as u64;
        self.pacing.passes.map(|p| len * u64::from(p))
    }

    /// Pages released so far.
    fn released(&self) -> u64 {
        let per_s = self.pacing.messages_per_s(OPTICAL_PAGE_LEN as f64);
        due(0, self.started.elapsed(), per_s, u64::MAX)
    }

    /// The body answering a request for page `n`.
    fn page(&self, n: u64) -> Vec<u8> {
        let len = self.pages.len() as u64;
        let end = self.total().unwrap_or(len);
        if n >= end || n >= self.released() {
            // Nothing new: past the end (without a pass limit) or not released yet.
            let next = (self.total() != Some(n)).then(|| n.to_string());
            return encode_or_empty(&OpticalPage {
                observations: Vec::new(),
                next_cursor: next,
            });
        }
        let body = self
            .pages
            .get((n % len.max(1)) as usize)
            .cloned()
            .unwrap_or_default();
        let next = (n + 1 < end || self.total().is_none()).then(|| (n + 1).to_string());
        // Scenario pages are valid; re-number their cursor for this pass. A page that does not
        // decode is served as it is, which is what a faulty archive would do.
        match OpticalPage::decode(&body) {
            Ok(mut page) => {
                page.next_cursor = next;
                encode_or_empty(&page)
            }
            Err(_) => body.to_vec(),
        }
    }
}

fn encode_or_empty(page: &OpticalPage) -> Vec<u8> {
    page.encode().unwrap_or_default()
}

async fn observations(
    State(archive): State<ArchiveSimulator>,
    Query(q): Query<PageQuery>,
) -> Response {
    let n = match q.cursor.as_deref().map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "cursor must be a page number").into_response();
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        archive.page(n),
    )
        .into_response()
}
