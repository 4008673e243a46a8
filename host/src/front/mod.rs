//! The front end's own rules, between hyper and a site. hyper parses HTTP and enforces the
//! header timeout and head size; everything it leaves to the server is here, in the order
//! `request.rs` applies it:
//!
//! 0. [`sniff`]: a watch on the raw bytes for the ambiguous framing hyper smooths over
//!    (duplicate `Content-Length`, `Content-Length` with `Transfer-Encoding`) → 400.
//! 1. [`checks`]: the head alone (Host, request-target form, framing headers, line sizes)
//!    → 400/405/414/431/501 before any site is chosen.
//! 2. [`request_body`]: once a request is bound for a site's app, its body is read whole,
//!    bounded by the site's `max_body`, `body_timeout` and memory budget → 413/408/503,
//!    before the request waits for one of the site's instances.
//! 3. [`forwarded`]: `REMOTE_ADDR` from `X-Forwarded-For`/`X-Real-IP`, only when the TCP
//!    peer is one of the configured `trusted_proxies`.
//!
//! Around all of them, [`conn`]: a timer for every state of a connection, and
//! `max_connections_per_ip`.
//!
//! Every refusal is a [`Refusal`]: the client gets the fixed page for its status and the
//! connection is closed (its body may be unread); the reason goes to the log with the peer.

pub mod checks;
pub mod conn;
pub mod forwarded;
pub mod request_body;
pub mod sniff;

use std::net::SocketAddr;

use http::{header, HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::metrics::Breach;
use crate::pages;

/// A request the front end will not pass on: the status the client sees and the reason the
/// log sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

/// The site limit behind a refusal (a response extension, for the metrics): the front end
/// answers 413 only for `max_body`, 408 only for `body_timeout` and 503 only for a site's
/// full memory budget.
fn breach_of(status: StatusCode) -> Option<Breach> {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Some(Breach::BodySize),
        StatusCode::REQUEST_TIMEOUT => Some(Breach::Timeout),
        StatusCode::SERVICE_UNAVAILABLE => Some(Breach::Memory),
        _ => None,
    }
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
        if let Some(breach) = breach_of(self.status) {
            response.extensions_mut().insert(breach);
        }
        response
    }
}
