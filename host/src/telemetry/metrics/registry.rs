//! The server's metrics ([`Metrics`]): the registry with every family, recording events into
//! it, and encoding it for a scrape.
//!
//! Where it sits: every request ends in [`Metrics::observe_request`] (called once per
//! finished request by the request-end hook, with the [`Breach`] the response carries), and
//! every site build in [`Metrics::observe_build`]. Neither is on a path that waits: the
//! request side takes a read lock on a map of per-site handles (no allocation after a site's
//! first request) and bumps atomics. What is a state rather than an event (instances alive,
//! memory held, the site's build state) is not kept here: the admin listener reads it from
//! the catalog at scrape time and hands it to [`Metrics::encode`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{
    build_histogram, latency_histogram, Breach, ClassLabels, Histograms, KindLabels, SiteLabels,
    StateLabels, CLASSES, NO_SITE, STATES,
};
use super::series::{Series, SERIES_STEP};

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
    pub(super) sites: RwLock<HashMap<String, Arc<SiteMetrics>>>,
    /// One scrape at a time sets the gauges and encodes.
    scrape: Mutex<()>,
    pub(super) started: Instant,
}

/// The handles one request touches, shared with the registry's families.
pub(super) struct SiteMetrics {
    pub(super) classes: [OnceLock<Counter>; 5],
    latency: Histogram,
    pub(super) breaches: [Counter; 4],
    pub(super) series: Series,
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
    pub(super) fn tick(&self) -> u64 {
        self.started.elapsed().as_secs() / SERIES_STEP + 1
    }
}
