//! What the status page shows now ([`Status`]), gathered from the catalog's reports, the
//! served table, the sites' pools and the metrics' per-site history; also the per-site
//! gauges of a metrics scrape ([`live`]). Rendered by `html.rs` and `data.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::http::state::ServerState;
use crate::runtime::quota::Usage;
use crate::sites::catalog::SiteReport;
use crate::sites::live::LiveSite;
use crate::telemetry::metrics::{Live, Summary, NO_SITE};

/// Everything the page shows.
pub struct Status {
    pub started: SystemTime,
    pub stopping: bool,
    pub sites: Vec<SiteStatus>,
    /// Requests no site took (refused heads, unknown hosts).
    pub unrouted: Summary,
}

/// One site as the page shows it.
pub struct SiteStatus {
    pub name: String,
    pub server_names: Vec<String>,
    pub default: bool,
    /// `serving`, `building`, `failed` or `stopped` (see `SiteReport::state`).
    pub state: &'static str,
    pub error: Option<(String, SystemTime)>,
    pub serving: Option<(String, SystemTime)>,
    pub building: Option<SystemTime>,
    pub last_build: Option<Duration>,
    pub instances: usize,
    pub memory: u64,
    pub memory_cap: u64,
    /// `/tmp` and each data folder against their quotas.
    pub storage: Vec<Usage>,
    pub requests: Summary,
}

/// Every configured site: its report (when it has one) and its served version (when
/// there is one), by name.
fn each_site(app: &ServerState) -> Vec<(String, Option<SiteReport>, Option<Arc<LiveSite>>)> {
    let table = app.catalog().current();
    let mut sites: Vec<(String, Option<SiteReport>, Option<Arc<LiveSite>>)> = app
        .catalog()
        .reports()
        .into_iter()
        .map(|report| {
            let live = table.site(&report.name).cloned();
            (report.name.clone(), Some(report), live)
        })
        .collect();
    for live in &table.sites {
        if !sites.iter().any(|(name, _, _)| *name == live.config.name) {
            sites.push((live.config.name.clone(), None, Some(live.clone())));
        }
    }
    sites.sort_by(|a, b| a.0.cmp(&b.0));
    sites
}

fn state_of(report: Option<&SiteReport>, live: Option<&Arc<LiveSite>>) -> &'static str {
    match (report, live) {
        (Some(report), _) => report.state(),
        (None, Some(_)) => "serving",
        (None, None) => "stopped",
    }
}

/// (instances, memory in use, memory budget) of a served site.
fn usage(live: Option<&Arc<LiveSite>>) -> (usize, u64, u64) {
    match live.and_then(|site| site.pool.as_ref()) {
        Some(pool) => (
            pool.live_instances(),
            pool.budget().in_use(),
            pool.budget().cap(),
        ),
        None => (0, 0, 0),
    }
}

/// The gauges of every site, for a metrics scrape.
pub fn live(app: &ServerState) -> Vec<Live> {
    each_site(app)
        .into_iter()
        .map(|(name, report, live)| {
            let (instances, memory, memory_cap) = usage(live.as_ref());
            Live {
                state: state_of(report.as_ref(), live.as_ref()),
                site: name,
                instances,
                memory,
                memory_cap,
            }
        })
        .collect()
}

/// What the page shows now.
pub fn survey(app: &ServerState, stopping: bool) -> Status {
    let metrics = app.metrics();
    let sites = each_site(app)
        .into_iter()
        .map(|(name, report, live)| {
            let (instances, memory, memory_cap) = usage(live.as_ref());
            let storage = live
                .as_ref()
                .and_then(|site| site.pool.as_ref())
                .map(|pool| pool.storage())
                .unwrap_or_default();
            let state = state_of(report.as_ref(), live.as_ref());
            let server_names = match (&live, &report) {
                (Some(live), _) => live.config.server_names.clone(),
                (None, Some(report)) => report.server_names.clone(),
                (None, None) => Vec::new(),
            };
            let (error, serving, building, last_build) = match report {
                Some(r) => (r.error, r.serving, r.building, r.last_build),
                None => (None, None, None, None),
            };
            SiteStatus {
                requests: metrics.summary(&name),
                default: live.as_ref().is_some_and(|l| l.config.default),
                name,
                server_names,
                state,
                error,
                serving,
                building,
                last_build,
                instances,
                memory,
                memory_cap,
                storage,
            }
        })
        .collect();
    Status {
        started: app.catalog().started(),
        stopping,
        sites,
        unrouted: metrics.summary(NO_SITE),
    }
}
