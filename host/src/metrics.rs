//! Counters and histograms of every site, exported in Prometheus' text format by the admin
//! listener (`admin.rs`).
//!
//! INTERFACE STUB: the helper who owns this file replaces the bodies; the signatures below
//! are what `request.rs`/`observe.rs` (request outcomes) and `reload.rs` (builds) call.

use std::time::Duration;

use http::StatusCode;

/// A site limit a request ran into; set as a response extension where the refusal is made,
/// read when the request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// `request_timeout` or `cpu_time` ran out (504).
    Timeout,
    /// The instance reached its memory cap, or the site's memory budget was full.
    Memory,
    /// The request body was over `max_body` (413).
    BodySize,
    /// No instance within the queue's bounds, or the data lock's (503).
    Overload,
}

/// Every metric of the server.
#[derive(Default)]
pub struct Metrics {}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One request ended (the response body finished or was abandoned). `site` is `None`
    /// for requests no site took (refused heads, unknown hosts).
    pub fn observe_request(
        &self,
        _site: Option<&str>,
        _status: StatusCode,
        _elapsed: Duration,
        _breach: Option<Breach>,
    ) {
    }

    /// A site build (or cache load) finished after `elapsed`; `ok` is false when it failed.
    pub fn observe_build(&self, _site: &str, _elapsed: Duration, _ok: bool) {}
}
