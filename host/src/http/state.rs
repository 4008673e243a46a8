//! [`ServerState`]: what every connection and request shares, from every listener: the
//! catalog of sites, the metrics and access log, the connection counts. Made once by
//! `cli::serve`; read by `listen.rs`, `request.rs` and the admin listener.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::FrontConfig;
use crate::http::conn::PeerCounts;
use crate::sites::catalog::Catalog;
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::metrics::Metrics;

/// Everything a request needs from the server (not a WSGI app: the server's own state).
pub struct ServerState {
    /// The sites served now; a reload swaps them (`catalog.rs`).
    pub(super) catalog: Arc<Catalog>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) access_log: AccessLog,
    /// One permit per open client connection, shared by every listener.
    pub(super) connections: Arc<Semaphore>,
    /// Open connections per client address (`max_connections_per_ip`), for every listener.
    pub(super) peers: Arc<PeerCounts>,
    pub(super) next_request: AtomicU64,
}

impl ServerState {
    /// `max_connections` is fixed for the life of the process (a reload cannot change it).
    pub fn new(catalog: Arc<Catalog>, metrics: Arc<Metrics>) -> Self {
        let max_connections = catalog.current().front.max_connections;
        Self {
            catalog,
            metrics,
            access_log: AccessLog::default(),
            connections: Arc::new(Semaphore::new(max_connections)),
            peers: Arc::new(PeerCounts::default()),
            next_request: AtomicU64::new(1),
        }
    }

    /// Writes every request's line to `access_log` (off by default).
    pub fn with_access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = access_log;
        self
    }

    /// The front end's settings as last (re)loaded.
    pub fn front(&self) -> FrontConfig {
        self.catalog.current().front.clone()
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn connections(&self) -> &Arc<Semaphore> {
        &self.connections
    }

    pub fn peers(&self) -> &Arc<PeerCounts> {
        &self.peers
    }
}
