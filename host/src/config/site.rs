//! `sites/<name>/site.toml`: one tenant's configuration, parsed strictly and resolved.
//!
//! ```toml
//! server_names = ["blog.example.com", "*.blog.example.com"]  # exact or `*.` wildcard
//! default = false                       # at most one site answers unknown hosts
//! [static]                              # optional; see `static_root.rs` for every key
//! root = "public"
//! [app]                                 # optional; a site needs [app], [static] or both
//! module = "app"                        # the module holding the WSGI callable
//! callable = "application"
//! mount = "/"                           # URL prefix of the app: SCRIPT_NAME
//! python_path = ["."]                   # folders relative to the site folder
//! requirements = "requirements.txt"     # pure-Python packages vendored at build time
//! preload = ["myapp.views"]             # modules imported at build time, before the snapshot
//! warmup = ["/", "/login/"]             # URLs requested at build time, before the snapshot
//! env = { APP_MODE = "production" }     # the app's os.environ; never the host's
//! vars = { SITE_TIER = "gold" }         # wsgi_var: extra keys in every request's environ
//! pass_authorization = false            # wsgi_pass_authorization: HTTP_AUTHORIZATION
//! chunked_content_length = false        # chunked bodies read whole get a CONTENT_LENGTH
//! data = ["data"]                       # folders the app may write, at `/data` in the guest
//! data_lock = "exclusive"               # with data: "exclusive", "methods" or "none"
//! watch = true                          # rebuild when the code changes (`watch.rs`)
//! middleware = ["pkg.mod:Wrapper"]      # wsgi_middleware: wrapped around the app, in order
//! optimize = 0                          # wsgi_python_optimize: 0, 1 (-O) or 2 (-OO)
//! [limits]                              # optional; see `limits.rs` for every key
//! memory = "128MiB"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::app::{resolve_app, AppConfig, RawApp};
use super::error::ConfigError;
use super::host_name::{is_site_name, normalize_server_name};
use super::limits::{Limits, RawLimits};
use super::parse::parse_toml;
use super::site_dir::SiteDir;
use super::static_root::{self, RawStatic, StaticConfig, StaticDefaults};

/// The file name every site folder must hold.
pub const SITE_FILE: &str = "site.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    #[serde(default)]
    server_names: Vec<String>,
    #[serde(default)]
    default: bool,
    #[serde(rename = "static")]
    static_root: Option<RawStatic>,
    app: Option<RawApp>,
    #[serde(default)]
    limits: RawLimits,
}

/// What every site starts from, from the server config's `[defaults]`.
#[derive(Debug, Clone, Default)]
pub struct SiteDefaults {
    pub static_root: StaticDefaults,
    pub limits: Limits,
}

/// A validated site.
#[derive(Debug, Clone)]
pub struct Site {
    /// The site folder's name: the tenant's identity in logs and in the state folder.
    pub name: String,
    /// The site folder's path (for messages and the file watcher).
    pub dir: PathBuf,
    /// The site folder, opened once: every file of the site is opened through it.
    pub root: SiteDir,
    /// Lower-cased host names, without ports.
    pub server_names: Vec<String>,
    /// Whether this site answers hosts no site names.
    pub default: bool,
    /// The static root served before the app, if the site has one.
    pub static_root: Option<StaticConfig>,
    /// The WSGI app, if the site has one.
    pub app: Option<AppConfig>,
    pub limits: Limits,
}

/// Longest `site.toml` read.
const MAX_SITE_FILE: u64 = 1024 * 1024;

/// Parses and validates one site folder, read through its handle.
pub fn load_site(root: SiteDir, defaults: &SiteDefaults) -> Result<Site, ConfigError> {
    let dir = root.path().to_path_buf();
    let file = dir.join(SITE_FILE);
    let bytes = root
        .read_file(Path::new(SITE_FILE), MAX_SITE_FILE)
        .map_err(|reason| ConfigError::new(&file, "-", reason))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::new(&file, "-", "the file is not UTF-8 text"))?;
    let raw: RawSite = parse_toml(&text, &file)?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_site_name(n))
        .ok_or_else(|| {
            ConfigError::new(
                &file,
                "-",
                format!(
                    "the folder name `{}` is not a valid site name (letters, digits, `-`, `_`, `.`)",
                    dir.display()
                ),
            )
        })?
        .to_owned();
    let err = |key: &str, reason: String| ConfigError::new(&file, key, reason);

    if raw.server_names.is_empty() && !raw.default {
        return Err(err(
            "server_names",
            "a site needs at least one name, or `default = true`".into(),
        ));
    }
    let mut server_names = Vec::new();
    for name in &raw.server_names {
        server_names
            .push(normalize_server_name(name).map_err(|reason| err("server_names", reason))?);
    }

    if raw.app.is_none() && raw.static_root.is_none() {
        return Err(err(
            "app",
            "missing: a site needs an `[app]` table, a `[static]` table, or both".into(),
        ));
    }
    let static_root = match &raw.static_root {
        Some(table) => Some(static_root::resolve(
            table,
            &defaults.static_root,
            &root,
            &file,
        )?),
        None => None,
    };
    let app = match raw.app {
        Some(app) => Some(resolve_app(app, &root, &file)?),
        None => None,
    };
    let vendored = app.as_ref().is_some_and(|app| app.requirements.is_some());
    if static_root
        .as_ref()
        .is_some_and(|s| !s.from_packages.is_empty())
        && !vendored
    {
        return Err(err(
            "static.from_packages",
            "needs `[app]` with `requirements`: the folders are looked up in the vendored packages"
                .into(),
        ));
    }
    Ok(Site {
        name,
        dir,
        root,
        server_names,
        default: raw.default,
        static_root,
        app,
        limits: Limits::resolve(&raw.limits, &defaults.limits, &file, "limits")?,
    })
}
