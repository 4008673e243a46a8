//! A request the front end will not pass on ([`Refusal`]): the fixed page for its status to
//! the client, the reason to the log, the connection closed.

use std::net::SocketAddr;

use http::{header, HeaderValue, Response, StatusCode};

use crate::response::body::Body;
use crate::response::pages;
use crate::telemetry::metrics::Breach;

/// A request the front end will not pass on: the status the client sees and the reason the
/// log sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    /// Logs the reason with the peer, the site (when one took the request) and the request
    /// id, and answers with the fixed page, closing the connection: after a refusal the
    /// rest of what the client sent is not trusted.
    pub fn respond(self, peer: SocketAddr, site: Option<&str>, request: u64) -> Response<Body> {
        let status = self.status.as_u16();
        let site = site.unwrap_or("-");
        tracing::info!(%peer, site, request, status, "request refused: {}", self.reason);
        let mut response = pages::error(self.status);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        // The front end answers 503 only for a site's full memory budget.
        let memory = self.status == StatusCode::SERVICE_UNAVAILABLE;
        if let Some(breach) = Breach::of(self.status, memory) {
            response.extensions_mut().insert(breach);
        }
        response
    }
}
