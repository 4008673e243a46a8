//! What the status page shows of a site's requests ([`Summary`]), read from the metrics'
//! per-site handles. Besides the Prometheus series, each site keeps a short history for the
//! status page (`series.rs`): its requests and its 5xx answers in [`SERIES_LEN`] buckets of
//! [`SERIES_STEP`] seconds.

use prometheus_client::metrics::counter::Counter;

use super::registry::Metrics;
use super::series::{Point, SERIES_LEN, SERIES_STEP};

impl Metrics {
    /// What the status page shows of a site's requests (zeros before its first one).
    pub fn summary(&self, site: &str) -> Summary {
        let found = self
            .sites
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned();
        let Some(handles) = found else {
            return Summary {
                series: vec![Point::default(); SERIES_LEN],
                ..Summary::default()
            };
        };
        let mut classes = [0; 5];
        for (count, class) in classes.iter_mut().zip(&handles.classes) {
            *count = class.get().map_or(0, Counter::get);
        }
        let now = self.tick();
        let series = handles.series.read(now);
        let window =
            (SERIES_STEP * 11) as f64 + (self.started.elapsed().as_secs_f64() % SERIES_STEP as f64);
        let window = window.min(self.started.elapsed().as_secs_f64()).max(1.0);
        let recent = &series[series.len().saturating_sub(12)..];
        let (requests, errors) = recent.iter().fold((0, 0), |(r, e), point| {
            (r + point.requests, e + point.errors)
        });
        Summary {
            requests: classes.iter().sum(),
            classes,
            errors: classes[4],
            breaches: handles.breaches.each_ref().map(Counter::get),
            request_rate: requests as f64 / window,
            error_rate: errors as f64 / window,
            series,
        }
    }
}

/// A site's requests as the status page shows them.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Requests answered since the server started, and by class (1xx to 5xx).
    pub requests: u64,
    pub classes: [u64; 5],
    /// 5xx answers.
    pub errors: u64,
    /// Limit breaches, in the order of [`Breach::ALL`].
    ///
    /// [`Breach::ALL`]: super::labels::Breach::ALL
    pub breaches: [u64; 4],
    /// Requests and 5xx per second over the last minute.
    pub request_rate: f64,
    pub error_rate: f64,
    /// The last [`SERIES_LEN`] buckets of [`SERIES_STEP`] seconds, oldest first (the last
    /// one still filling).
    pub series: Vec<Point>,
}
