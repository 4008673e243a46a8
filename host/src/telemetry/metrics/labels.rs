//! What the metrics are labelled with: the [`Breach`] kinds a response carries, the label
//! sets of each family, the status classes and site states, and the histograms' bucket
//! bounds. Used when recording (`record.rs`) and at scrape time (`scrape.rs`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// A site limit a request ran into; set as a response extension where the refusal is made,
/// read when the request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// `request_timeout` or `cpu_time` ran out (504), or the body did not arrive within
    /// `body_timeout` (408).
    Timeout,
    /// The instance reached its memory cap, or the site's memory budget was full.
    Memory,
    /// The request body was over `max_body` (413).
    BodySize,
    /// No instance within the queue's bounds, or the data lock's (503).
    Overload,
}

impl Breach {
    /// The site limit behind a failed request's status, wherever it failed: 504 is a
    /// timeout (`request_timeout`, `cpu_time`), 408 a body that broke `body_timeout`, 413 a
    /// body past `max_body`; any other failure is a memory breach when `memory` says the
    /// site was refused memory on the way (an instance's cap, or the site's budget).
    pub fn of(status: http::StatusCode, memory: bool) -> Option<Breach> {
        use http::StatusCode;
        match status {
            StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => Some(Breach::Timeout),
            StatusCode::PAYLOAD_TOO_LARGE => Some(Breach::BodySize),
            _ if memory => Some(Breach::Memory),
            _ => None,
        }
    }

    /// Every kind, in the order of their `kind` label values.
    pub const ALL: [Breach; 4] = [
        Breach::Timeout,
        Breach::Memory,
        Breach::BodySize,
        Breach::Overload,
    ];

    /// The `kind` label value.
    pub fn label(self) -> &'static str {
        match self {
            Breach::Timeout => "timeout",
            Breach::Memory => "memory",
            Breach::BodySize => "body_size",
            Breach::Overload => "overload",
        }
    }
}

/// The `site` label of requests no site took (refused heads, unknown hosts).
pub const NO_SITE: &str = "-";

/// Upper bounds of the request latency buckets, in seconds: 0.5 ms to 30 s.
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the build duration buckets, in seconds: a cache load to a long build.
const BUILD_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// The status classes counted from the start (a `1xx` final status is counted when seen).
pub(super) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The states of `wsgi_wasm_site_state` (see `catalog::SiteReport::state`).
pub const STATES: [&str; 4] = ["serving", "building", "failed", "stopped"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct SiteLabels {
    pub(super) site: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ClassLabels {
    pub(super) site: String,
    pub(super) class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct KindLabels {
    pub(super) site: String,
    pub(super) kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabels {
    pub(super) site: String,
    pub(super) state: &'static str,
}

pub(super) type Histograms = Family<SiteLabels, Histogram, fn() -> Histogram>;

pub(super) fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

pub(super) fn build_histogram() -> Histogram {
    Histogram::new(BUILD_BUCKETS)
}
