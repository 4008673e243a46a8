//! A site that is up ([`LiveSite`]: its configuration, static root, package aliases and
//! instance pool), what it was made from ([`Fingerprint`]), and a site whose app must be
//! built first ([`Pending`]); made by the builder (`builder.rs`), served from the catalog's
//! table.

use std::sync::Arc;

use crate::build::Plan;
use crate::config::Site;
use crate::static_files::{Aliases, StaticRoot};
use crate::wsgi::pool::SitePool;

/// A site that is up.
pub struct LiveSite {
    pub config: Site,
    pub static_root: Option<StaticRoot>,
    /// `[static.from_packages]`: folders of the vendored packages, tried after the root.
    pub package_static: Aliases,
    pub pool: Option<Arc<SitePool>>,
    /// The app's first build is under way: its requests get a 503 until it is done.
    pub starting: bool,
    /// What this site was made from: a reload keeps the site when it has not changed.
    pub fingerprint: Fingerprint,
    /// A shared lock on the build served (`artifact::lease`): no prune, by this server or
    /// another sharing the state folder, removes it while this site lives.
    pub _lease: Option<std::fs::File>,
}

impl crate::telemetry::observe::SiteName for LiveSite {
    fn site_name(&self) -> &str {
        &self.config.name
    }
}

/// A site's configuration and the content hash of its app's build inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The resolved configuration, printed (every field of it takes part).
    pub config: String,
    /// The build's content hash; `None` for a site without an app.
    pub build: Option<String>,
}

/// A site whose app must be built before it can serve.
pub struct Pending {
    pub site: Site,
    pub plan: Plan,
    pub fingerprint: Fingerprint,
    /// Its static root, opened already.
    pub(super) static_root: Option<StaticRoot>,
}

/// What [`Builder::prepare`] found. Made once per site and moved on at once: the size of
/// the larger variant costs nothing.
///
/// [`Builder::prepare`]: super::builder::Builder::prepare
#[allow(clippy::large_enum_variant)]
pub enum Prepared {
    Ready(LiveSite),
    Build(Pending),
}
