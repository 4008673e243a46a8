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
//! [limits]                              # optional; see `limits.rs` for every key
//! memory = "128MiB"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::limits::{Limits, RawLimits};
use super::names::{self, Held, NameRules};
use super::parse::{folder_in, parse_toml, relative};
use super::site_dir::SiteDir;
use super::static_root::{self, RawStatic, StaticConfig};
use super::{ConfigError, SiteDefaults};
use crate::runtime::data_lock::DataLock;

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    module: Option<String>,
    callable: Option<String>,
    python_path: Option<Vec<String>>,
    requirements: Option<String>,
    #[serde(default)]
    preload: Vec<String>,
    #[serde(default)]
    warmup: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    mount: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    pass_authorization: bool,
    #[serde(default)]
    chunked_content_length: bool,
    #[serde(default)]
    data: Vec<String>,
    data_lock: Option<String>,
    watch: Option<bool>,
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

/// What the build needs to turn a site folder into a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub module: String,
    pub callable: String,
    /// Folders of the site folder (relative to it), in import order.
    pub python_path: Vec<PathBuf>,
    /// The requirements file (relative to the site folder), when the site has one.
    pub requirements: Option<PathBuf>,
    pub preload: Vec<String>,
    /// URLs (path and query, inside the mount) the build requests before the snapshot.
    pub warmup: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `SCRIPT_NAME` of the app: empty for the root, else `/prefix` without a trailing `/`.
    pub mount: String,
    /// Extra environ keys for every request (`wsgi_var`).
    pub vars: BTreeMap<String, String>,
    pub pass_authorization: bool,
    /// Chunked bodies are read whole first and reach the app with a `CONTENT_LENGTH`, for
    /// frameworks that ignore `wsgi.input_terminated` (Django).
    pub chunked_content_length: bool,
    /// Folders the app may write (relative to the site folder), each mounted read-write at
    /// `/<name>` in the guest.
    pub data: Vec<(PathBuf, String)>,
    /// How requests are kept apart around `data` (no lock when it is empty).
    pub data_lock: DataLock,
    /// Rebuild and swap in the site when its code changes (`watch.rs`); not part of the
    /// build.
    pub watch: bool,
}

/// Reads every `<sites_dir>/<name>/site.toml`, in name order. Sites that fail to load are
/// returned as errors beside the good ones, so one tenant's typo never stops the others.
/// Each site folder is opened once here ([`SiteDir`]); a symlink in its place is refused.
/// Host names are then given out by [`names::assign`]: a site that claims a name another
/// site holds is refused. Returns what is held once the sites returned serve.
pub fn load_sites(
    sites_dir: &Path,
    defaults: &SiteDefaults,
    rules: &NameRules,
    held: &Held,
) -> anyhow::Result<(Vec<Site>, Vec<ConfigError>, Held)> {
    use anyhow::Context;
    let sites = cap_std::fs::Dir::open_ambient_dir(sites_dir, cap_std::ambient_authority())
        .with_context(|| format!("cannot read the sites folder `{}`", sites_dir.display()))?;
    let entries = sites
        .entries()
        .with_context(|| format!("cannot read the sites folder `{}`", sites_dir.display()))?;
    let mut names: Vec<(String, bool)> = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() || kind.is_symlink() {
            names.push((name, kind.is_symlink()));
        }
    }
    names.sort();
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut present = BTreeSet::new();
    for (name, symlink) in names {
        let dir = sites_dir.join(&name);
        let file = dir.join(SITE_FILE);
        if symlink {
            // A symlink to a folder with a site.toml would have been a site: say why not.
            if sites.is_file(Path::new(&name).join(SITE_FILE)) || dir.join(SITE_FILE).is_file() {
                errors.push(ConfigError::new(
                    &file,
                    "-",
                    format!(
                        "`{name}` is a symlink: a site folder must be a real folder of the \
                         sites folder (it is opened once, without following links; bind-mount \
                         a folder from elsewhere instead)"
                    ),
                ));
            }
            continue;
        }
        let root = match SiteDir::open(&sites, &name, &dir) {
            Ok(root) => root,
            Err(error) => {
                errors.push(ConfigError::new(
                    &file,
                    "-",
                    format!("cannot open the site folder: {error}"),
                ));
                continue;
            }
        };
        match root.dir().symlink_metadata(SITE_FILE) {
            Err(_) => continue,
            Ok(meta) if meta.file_type().is_symlink() => {
                present.insert(name.clone());
                errors.push(ConfigError::new(
                    &file,
                    "-",
                    "cannot open the file: it is a symlink (site.toml must be a regular file \
                     of the site folder)",
                ));
                continue;
            }
            Ok(_) => {}
        }
        present.insert(name.clone());
        match load_site(root, defaults) {
            Ok(site) => found.push(site),
            Err(error) => errors.push(error),
        }
    }
    let held = names::assign(&mut found, &mut errors, rules, held, &present);
    Ok((found, errors, held))
}

/// [`load_sites`] with the server config's sites folder, defaults and `[names]`, and the
/// names held in its state folder.
pub fn read_sites(
    server: &super::ServerConfig,
) -> anyhow::Result<(Vec<Site>, Vec<ConfigError>, Held)> {
    let held = Held::load(&server.state, &server.sites);
    load_sites(&server.sites, &server.defaults, &server.names, &held)
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

fn resolve_app(app: RawApp, root: &SiteDir, file: &Path) -> Result<AppConfig, ConfigError> {
    let err = |key: &str, reason: String| ConfigError::new(file, key, reason);
    let module = app.module.unwrap_or_else(|| "app".into());
    if !is_dotted_identifier(&module) {
        return Err(err(
            "app.module",
            format!("`{module}` is not a Python module name"),
        ));
    }
    let callable = app.callable.unwrap_or_else(|| "application".into());
    if !is_identifier(&callable) {
        return Err(err(
            "app.callable",
            format!("`{callable}` is not a Python identifier"),
        ));
    }
    let mut python_path = Vec::new();
    for entry in app.python_path.unwrap_or_else(|| vec![".".into()]) {
        let path = relative(&entry).map_err(|reason| err("app.python_path", reason))?;
        folder_in(root, &entry, &path).map_err(|reason| err("app.python_path", reason))?;
        python_path.push(path);
    }
    let requirements = match app.requirements {
        None => None,
        Some(entry) => {
            let path = relative(&entry).map_err(|reason| err("app.requirements", reason))?;
            match root.dir().metadata(&path) {
                Ok(meta) if meta.is_file() => {}
                Err(error) if super::site_dir::is_escape(&error) => {
                    return Err(err(
                        "app.requirements",
                        format!("`{entry}` leads outside the site folder through a symlink"),
                    ))
                }
                _ => {
                    return Err(err(
                        "app.requirements",
                        format!("`{entry}` is not a file in the site"),
                    ))
                }
            }
            Some(path)
        }
    };
    for module in &app.preload {
        if !is_dotted_identifier(module) {
            return Err(err(
                "app.preload",
                format!("`{module}` is not a Python module name"),
            ));
        }
    }
    for key in app.env.keys() {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(err(
                "app.env",
                format!("`{key}` is not a valid variable name"),
            ));
        }
    }
    let mount = match app.mount.as_deref() {
        None | Some("/") | Some("") => String::new(),
        Some(mount) => {
            let trimmed = mount.trim_end_matches('/');
            let valid = trimmed.starts_with('/')
                && trimmed
                    .split('/')
                    .skip(1)
                    .all(|s| !s.is_empty() && s != "." && s != "..")
                && !trimmed.contains(['?', '#', '%', '\\', '\0']);
            if !valid {
                return Err(err(
                    "app.mount",
                    format!("`{mount}` is not a URL path prefix such as `/app`"),
                ));
            }
            trimmed.to_owned()
        }
    };
    for key in app.vars.keys() {
        if key.is_empty() || key.starts_with("wsgi.") || key.contains('\0') {
            return Err(err("app.vars", format!("`{key}` cannot be set by a site")));
        }
    }
    let mut data = Vec::new();
    for entry in &app.data {
        let path = relative(entry).map_err(|reason| err("app.data", reason))?;
        folder_in(root, entry, &path).map_err(|reason| err("app.data", reason))?;
        let guest = format!("/{}", entry.trim_start_matches("./").trim_end_matches('/'));
        let reserved = guest == "/python" || guest.trim_start_matches('/').parse::<u32>().is_ok();
        if reserved || guest.contains("/.") {
            return Err(err(
                "app.data",
                format!("`{entry}` cannot be mounted in the guest"),
            ));
        }
        data.push((path, guest));
    }
    let data_lock = DataLock::resolve(app.data_lock.as_deref(), !data.is_empty())
        .map_err(|reason| err("app.data_lock", reason))?;
    Ok(AppConfig {
        module,
        callable,
        python_path,
        requirements,
        preload: app.preload,
        warmup: warmup_urls(app.warmup, &mount).map_err(|reason| err("app.warmup", reason))?,
        env: app.env,
        mount,
        vars: app.vars,
        pass_authorization: app.pass_authorization,
        chunked_content_length: app.chunked_content_length,
        data,
        data_lock,
        watch: app.watch.unwrap_or(true),
    })
}

/// At most this many `warmup` URLs: each one runs inside the build.
const MAX_WARMUP: usize = 50;

/// Checks `app.warmup`: request targets in origin form (`/path?query`), inside the mount.
fn warmup_urls(urls: Vec<String>, mount: &str) -> Result<Vec<String>, String> {
    if urls.len() > MAX_WARMUP {
        return Err(format!("{} URLs: at most {MAX_WARMUP}", urls.len()));
    }
    for url in &urls {
        let path = url.split_once('?').map_or(url.as_str(), |(path, _)| path);
        let printable = url.bytes().all(|b| b.is_ascii_graphic()) && !url.contains('#');
        if !path.starts_with('/') || path.starts_with("//") || !printable {
            return Err(format!(
                "`{url}` is not a URL path such as `/` or `/search?q=x` (printable ASCII, no `#`)"
            ));
        }
        let decoded = percent_encoding::percent_decode_str(path).collect::<Vec<u8>>();
        let inside = decoded
            .strip_prefix(mount.as_bytes())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"));
        if !inside {
            return Err(format!("`{url}` is outside the app's mount `{mount}`"));
        }
    }
    Ok(urls)
}

pub(super) fn normalize_server_name(name: &str) -> Result<String, String> {
    // Like the router does for the request's host: case and one trailing dot do not count.
    let trimmed = name.trim();
    let lowered = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    let host = lowered.strip_prefix("*.").unwrap_or(&lowered);
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(lowered)
    } else {
        Err(format!("`{name}` is not a host name (or `*.` wildcard)"))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn is_dotted_identifier(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_identifier)
}

pub(super) fn is_site_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
