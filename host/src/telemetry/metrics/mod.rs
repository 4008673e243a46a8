//! Counters and histograms of every site, exported in Prometheus' text format by the admin
//! listener (`admin/mod.rs`), with the prometheus-client crate (the Prometheus project's Rust
//! client).
//!
//! Where it sits: every request ends in [`Metrics::observe_request`] and every site build in
//! [`Metrics::observe_build`], neither on a path that waits; a scrape encodes the exposition
//! ([`Metrics::encode`]); all three in `registry.rs`. The status page reads each site's
//! [`Summary`] (`summary.rs`) with its short history (`series.rs`). What the families are
//! labelled with, and their bucket bounds, is in `labels.rs`.

mod labels;
mod registry;
mod series;
mod summary;
#[cfg(test)]
mod tests;

pub use labels::{Breach, NO_SITE};
pub use registry::{Live, Metrics};
pub use series::SERIES_STEP;
pub use summary::Summary;
