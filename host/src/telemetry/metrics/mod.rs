//! Counters and histograms of every site, exported in Prometheus' text format by the admin
//! listener (`admin/mod.rs`), with the prometheus-client crate (the Prometheus project's Rust
//! client).
//!
//! Where it sits: every request ends in [`Metrics::observe_request`] (called once per
//! finished request by the request-end hook, with the [`Breach`] the response carries), and
//! every site build in [`Metrics::observe_build`]. Neither is on a path that waits: the
//! request side takes a read lock on a map of per-site handles (no allocation after a site's
//! first request) and bumps atomics. What is a state rather than an event (instances alive,
//! memory held, the site's build state) is not kept here: the admin listener reads it from
//! the catalog at scrape time and hands it to [`Metrics::encode`].
//!
//! Besides the Prometheus series, each site keeps a short history for the status page: its
//! requests and its 5xx answers in [`SERIES_LEN`] buckets of [`SERIES_STEP`] seconds.

mod series;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use series::Series;
pub use series::{Point, SERIES_LEN, SERIES_STEP};

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
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The states of `wsgi_wasm_site_state` (see `catalog::SiteReport::state`).
pub const STATES: [&str; 4] = ["serving", "building", "failed", "stopped"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabels {
    site: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    site: String,
    class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    site: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    site: String,
    state: &'static str,
}

type Histograms = Family<SiteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn build_histogram() -> Histogram {
    Histogram::new(BUILD_BUCKETS)
}

/// What the catalog says of one site at scrape time.
#[derive(Debug, Clone)]
pub struct Live {
    pub site: String,
    /// Instances alive, idle or serving.
    pub instances: usize,
    /// Bytes of the site's memory budget in use, and its size.
    pub memory: u64,
    pub memory_cap: u64,
    /// One of [`STATES`].
    pub state: &'static str,
}

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    requests: Family<ClassLabels, Counter>,
    latency: Histograms,
    breaches: Family<KindLabels, Counter>,
    builds: Histograms,
    build_failures: Family<SiteLabels, Counter>,
    instances: Family<SiteLabels, Gauge>,
    memory: Family<SiteLabels, Gauge>,
    memory_cap: Family<SiteLabels, Gauge>,
    state: Family<StateLabels, Gauge>,
    /// The request-side handles of each site, made on its first request.
    sites: RwLock<HashMap<String, Arc<SiteMetrics>>>,
    /// One scrape at a time sets the gauges and encodes.
    scrape: Mutex<()>,
    started: Instant,
}

/// The handles one request touches, shared with the registry's families.
struct SiteMetrics {
    classes: [OnceLock<Counter>; 5],
    latency: Histogram,
    breaches: [Counter; 4],
    series: Series,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wsgi_wasm");
        let requests = Family::default();
        let latency = Histograms::new_with_constructor(latency_histogram);
        let breaches = Family::default();
        let builds = Histograms::new_with_constructor(build_histogram);
        let build_failures = Family::default();
        let instances = Family::default();
        let memory = Family::default();
        let memory_cap = Family::default();
        let state = Family::default();
        registry.register(
            "requests",
            "Requests answered, by site and status class",
            requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from the request's head to the end of its response, by site",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "limit_breaches",
            "Requests refused or cut for a site limit, by kind: timeout, memory, body_size, overload",
            breaches.clone(),
        );
        registry.register_with_unit(
            "build_duration",
            "Time a site build (or the load of a cached build) took",
            Unit::Seconds,
            builds.clone(),
        );
        registry.register(
            "build_failures",
            "Site builds that failed",
            build_failures.clone(),
        );
        registry.register(
            "instances",
            "Instances of the site alive now, idle or serving",
            instances.clone(),
        );
        registry.register_with_unit(
            "memory",
            "Bytes of the site's memory budget in use: instance memories and host-side buffers",
            Unit::Bytes,
            memory.clone(),
        );
        registry.register_with_unit(
            "memory_budget",
            "The site's memory budget: memory times instances",
            Unit::Bytes,
            memory_cap.clone(),
        );
        registry.register(
            "site_state",
            "1 for the site's current state: serving, building, failed or stopped",
            state.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            breaches,
            builds,
            build_failures,
            instances,
            memory,
            memory_cap,
            state,
            sites: RwLock::new(HashMap::new()),
            scrape: Mutex::new(()),
            started: Instant::now(),
        }
    }

    /// One request ended (the response body finished or was abandoned). `site` is `None`
    /// for requests no site took (refused heads, unknown hosts).
    pub fn observe_request(
        &self,
        site: Option<&str>,
        status: StatusCode,
        elapsed: Duration,
        breach: Option<Breach>,
    ) {
        let handles = self.site(site.unwrap_or(NO_SITE));
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        handles.classes[class]
            .get_or_init(|| self.class_counter(site.unwrap_or(NO_SITE), class))
            .inc();
        handles.latency.observe(elapsed.as_secs_f64());
        if let Some(breach) = breach {
            handles.breaches[breach as usize].inc();
        }
        handles.series.record(self.tick(), status.is_server_error());
    }

    /// A site build (or cache load) finished after `elapsed`; `ok` is false when it failed.
    pub fn observe_build(&self, site: &str, elapsed: Duration, ok: bool) {
        let labels = SiteLabels { site: site.into() };
        self.builds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let failures = self.build_failures.get_or_create(&labels);
        if !ok {
            failures.inc();
        }
    }

    /// The whole exposition (OpenMetrics text), with the gauges set from `live`: sites not
    /// in it (removed by a reload) have no gauges.
    pub fn encode(&self, live: &[Live]) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.instances.clear();
        self.memory.clear();
        self.memory_cap.clear();
        self.state.clear();
        for site in live {
            let labels = SiteLabels {
                site: site.site.clone(),
            };
            self.instances
                .get_or_create(&labels)
                .set(site.instances as i64);
            self.memory
                .get_or_create(&labels)
                .set(site.memory.min(i64::MAX as u64) as i64);
            self.memory_cap
                .get_or_create(&labels)
                .set(site.memory_cap.min(i64::MAX as u64) as i64);
            for state in STATES {
                let labels = StateLabels {
                    site: site.site.clone(),
                    state,
                };
                self.state
                    .get_or_create(&labels)
                    .set(i64::from(state == site.state));
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }

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

    /// The handles of `site`, made on its first request.
    fn site(&self, site: &str) -> Arc<SiteMetrics> {
        if let Some(found) = self
            .sites
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
        {
            return found.clone();
        }
        let mut sites = self.sites.write().unwrap_or_else(|e| e.into_inner());
        sites
            .entry(site.to_owned())
            .or_insert_with(|| {
                let labels = SiteLabels { site: site.into() };
                let classes: [OnceLock<Counter>; 5] = Default::default();
                // Requests by class 2xx–5xx are exported from the first request on, zeros
                // included, so a rate of errors is 0 rather than absent.
                for (class, slot) in classes.iter().enumerate().skip(1) {
                    let _ = slot.set(self.class_counter(site, class));
                }
                let breaches = Breach::ALL.map(|kind| {
                    self.breaches
                        .get_or_create(&KindLabels {
                            site: site.into(),
                            kind: kind.label(),
                        })
                        .clone()
                });
                Arc::new(SiteMetrics {
                    classes,
                    latency: self.latency.get_or_create(&labels).clone(),
                    breaches,
                    series: Series::default(),
                })
            })
            .clone()
    }

    fn class_counter(&self, site: &str, class: usize) -> Counter {
        self.requests
            .get_or_create(&ClassLabels {
                site: site.into(),
                class: CLASSES[class],
            })
            .clone()
    }

    /// The history bucket now (from 1: a bucket stamped 0 was never written).
    fn tick(&self) -> u64 {
        self.started.elapsed().as_secs() / SERIES_STEP + 1
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
    pub breaches: [u64; 4],
    /// Requests and 5xx per second over the last minute.
    pub request_rate: f64,
    pub error_rate: f64,
    /// The last [`SERIES_LEN`] buckets of [`SERIES_STEP`] seconds, oldest first (the last
    /// one still filling).
    pub series: Vec<Point>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_exposition_names_labels_and_gauges() {
        let metrics = Metrics::new();
        metrics.observe_request(Some("blog"), StatusCode::OK, Duration::from_millis(3), None);
        metrics.observe_request(
            Some("blog"),
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(2),
            Some(Breach::Timeout),
        );
        metrics.observe_request(None, StatusCode::BAD_REQUEST, Duration::ZERO, None);
        metrics.observe_build("blog", Duration::from_millis(40), true);
        metrics.observe_build("shop", Duration::from_secs(3), false);
        let live = [Live {
            site: "blog".into(),
            instances: 2,
            memory: 1024,
            memory_cap: 4096,
            state: "serving",
        }];
        let text = metrics.encode(&live);
        for line in [
            "wsgi_wasm_requests_total{site=\"blog\",class=\"2xx\"} 1",
            "wsgi_wasm_requests_total{site=\"blog\",class=\"5xx\"} 1",
            "wsgi_wasm_requests_total{site=\"blog\",class=\"4xx\"} 0",
            "wsgi_wasm_requests_total{site=\"-\",class=\"4xx\"} 1",
            "wsgi_wasm_limit_breaches_total{site=\"blog\",kind=\"timeout\"} 1",
            "wsgi_wasm_limit_breaches_total{site=\"blog\",kind=\"memory\"} 0",
            "wsgi_wasm_request_duration_seconds_bucket{le=\"0.005\",site=\"blog\"} 1",
            "wsgi_wasm_request_duration_seconds_count{site=\"blog\"} 2",
            "wsgi_wasm_build_duration_seconds_count{site=\"shop\"} 1",
            "wsgi_wasm_build_failures_total{site=\"shop\"} 1",
            "wsgi_wasm_build_failures_total{site=\"blog\"} 0",
            "wsgi_wasm_instances{site=\"blog\"} 2",
            "wsgi_wasm_memory_bytes{site=\"blog\"} 1024",
            "wsgi_wasm_memory_budget_bytes{site=\"blog\"} 4096",
            "wsgi_wasm_site_state{site=\"blog\",state=\"serving\"} 1",
            "wsgi_wasm_site_state{site=\"blog\",state=\"failed\"} 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(!text.contains("class=\"1xx\""), "{text}");
        // A site gone from the catalog loses its gauges, keeps its counters.
        let text = metrics.encode(&[]);
        assert!(
            !text.contains("wsgi_wasm_instances{site=\"blog\"}"),
            "{text}"
        );
        assert!(text.contains("wsgi_wasm_requests_total{site=\"blog\",class=\"2xx\"} 1"));

        let summary = metrics.summary("blog");
        assert_eq!((summary.requests, summary.errors), (2, 1));
        assert_eq!(summary.breaches, [1, 0, 0, 0]);
        assert_eq!(summary.series.last().map(|p| p.requests), Some(2));
        assert!(summary.request_rate > 0.0);
        assert_eq!(metrics.summary("nobody").requests, 0);
    }
}
