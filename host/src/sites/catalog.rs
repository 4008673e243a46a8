//! The sites being served right now: the table every request routes through, swapped whole
//! by a reload, and what each site is doing (serving, building, failed) for the admin side.
//!
//! A request loads the current [`Table`] once, at its start, and keeps that `Arc` to its
//! end: a reload that swaps the table lets requests in flight finish on the old sites while
//! new requests see the new ones. An old site (its instance pool, its static root) is
//! dropped when the last request holding it ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::config::{FrontConfig, ServerConfig, UnknownHost};
use crate::sites::live::LiveSite;
use crate::sites::router::Router;

/// One generation of the served configuration.
pub struct Table {
    pub router: Router<Arc<LiveSite>>,
    pub sites: Vec<Arc<LiveSite>>,
    pub unknown_host: UnknownHost,
    pub front: FrontConfig,
}

impl Table {
    pub fn new(sites: Vec<Arc<LiveSite>>, server: &ServerConfig) -> Table {
        let router = Router::new(sites.iter().map(|s| {
            (
                s.config.server_names.as_slice(),
                s.config.default,
                s.clone(),
            )
        }));
        Table {
            router,
            sites,
            unknown_host: server.unknown_host,
            front: server.front.clone(),
        }
    }

    /// The served site called `name`.
    pub fn site(&self, name: &str) -> Option<&Arc<LiveSite>> {
        self.sites.iter().find(|s| s.config.name == name)
    }
}

/// What the admin side shows of one site.
#[derive(Debug, Clone)]
pub struct SiteReport {
    pub name: String,
    pub server_names: Vec<String>,
    /// The build served now (its content hash), and since when.
    pub serving: Option<(String, SystemTime)>,
    /// A build under way, and since when.
    pub building: Option<SystemTime>,
    /// The last failure (build or configuration) with its whole message, and when.
    /// Cleared by the next success.
    pub error: Option<(String, SystemTime)>,
    /// How long the last build (or cache load) of this site took.
    pub last_build: Option<Duration>,
}

impl SiteReport {
    fn new(name: &str) -> SiteReport {
        SiteReport {
            name: name.to_owned(),
            server_names: Vec::new(),
            serving: None,
            building: None,
            error: None,
            last_build: None,
        }
    }

    /// One word for the site's state: `building`, `failed` (the last attempt failed; the
    /// previous version may still serve), `serving`, or `stopped`.
    pub fn state(&self) -> &'static str {
        if self.building.is_some() {
            "building"
        } else if self.error.is_some() {
            "failed"
        } else if self.serving.is_some() {
            "serving"
        } else {
            "stopped"
        }
    }
}

/// The served table and the reports of every site.
pub struct Catalog {
    table: ArcSwap<Table>,
    reports: Mutex<BTreeMap<String, SiteReport>>,
    started: SystemTime,
}

impl Catalog {
    pub fn new(table: Table) -> Catalog {
        Catalog {
            table: ArcSwap::from_pointee(table),
            reports: Mutex::new(BTreeMap::new()),
            started: SystemTime::now(),
        }
    }

    /// The table to route one request through (hold it for the whole request).
    pub fn current(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// Swaps in a new table; requests already holding the old one finish on it.
    pub fn swap(&self, table: Table) {
        let names: Vec<(String, Vec<String>)> = table
            .sites
            .iter()
            .map(|s| (s.config.name.clone(), s.config.server_names.clone()))
            .collect();
        self.table.store(Arc::new(table));
        let mut reports = self.reports.lock().expect("reports lock");
        for (name, server_names) in names {
            reports
                .entry(name.clone())
                .or_insert_with(|| SiteReport::new(&name))
                .server_names = server_names;
        }
    }

    /// When the server started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Every site's report, by name.
    pub fn reports(&self) -> Vec<SiteReport> {
        self.reports
            .lock()
            .expect("reports lock")
            .values()
            .cloned()
            .collect()
    }

    /// Changes the report of `site` (made on first use).
    pub fn report(&self, site: &str, change: impl FnOnce(&mut SiteReport)) {
        let mut reports = self.reports.lock().expect("reports lock");
        change(
            reports
                .entry(site.to_owned())
                .or_insert_with(|| SiteReport::new(site)),
        );
    }

    /// Forgets sites that are no longer configured.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.reports
            .lock()
            .expect("reports lock")
            .retain(|name, _| keep(name));
    }
}
