//! `[app]` of a site.toml: the WSGI app, its build inputs and its request settings,
//! resolved into [`AppConfig`]. The keys are listed in `site.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;
use super::parse::{folder_in, relative};
use super::site_dir::SiteDir;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
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
    #[serde(default)]
    middleware: Vec<String>,
    optimize: Option<i64>,
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
    /// WSGI middleware wrapped around the app at build time, innermost first, each as
    /// `(module, attribute)` (`wsgi_middleware`).
    pub middleware: Vec<(String, String)>,
    /// The byte-code optimization of the site's modules: 0, 1 (`-O`: no asserts) or 2
    /// (`-OO`: no docstrings either) (`wsgi_python_optimize`).
    pub optimize: u8,
}

/// How the requests of a site are kept apart around its writable data (`app.data_lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLock {
    /// No lock: the site has no data folders, or coordinates its writes itself.
    None,
    /// Safe methods share the lock; every other method runs alone.
    Methods,
    /// Every request runs alone.
    Exclusive,
}

impl DataLock {
    /// A site's mode from its `app.data_lock` value (`value`) and whether it declares data
    /// folders: `exclusive` when it has some and says nothing, no lock when it has none.
    /// The error is the reason, for the caller to put beside the file and key.
    pub fn resolve(value: Option<&str>, has_data: bool) -> Result<DataLock, String> {
        let mode = match value {
            None if has_data => return Ok(DataLock::Exclusive),
            None => return Ok(DataLock::None),
            Some("exclusive") => DataLock::Exclusive,
            Some("methods") => DataLock::Methods,
            Some("none") => DataLock::None,
            Some(other) => {
                return Err(format!(
                    "`{other}` is not a lock mode: use `exclusive`, `methods` or `none`"
                ))
            }
        };
        if !has_data {
            return Err(format!(
                "`{}` is set, but the site has no `app.data` folders to lock",
                value.unwrap_or_default()
            ));
        }
        Ok(mode)
    }
}

pub(super) fn resolve_app(
    app: RawApp,
    root: &SiteDir,
    file: &Path,
) -> Result<AppConfig, ConfigError> {
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
    let middleware = middleware(&app.middleware).map_err(|reason| err("app.middleware", reason))?;
    let optimize = match app.optimize {
        None => 0,
        Some(level @ 0..=2) => level as u8,
        Some(other) => {
            return Err(err(
                "app.optimize",
                format!("`{other}` is not an optimization level: use 0, 1 (`-O`) or 2 (`-OO`)"),
            ))
        }
    };
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
        middleware,
        optimize,
    })
}

/// At most this many `middleware` entries.
const MAX_MIDDLEWARE: usize = 20;

/// Checks `app.middleware`: each `module.path:attribute` (a callable taking the app).
fn middleware(entries: &[String]) -> Result<Vec<(String, String)>, String> {
    if entries.len() > MAX_MIDDLEWARE {
        return Err(format!(
            "{} entries: at most {MAX_MIDDLEWARE}",
            entries.len()
        ));
    }
    entries
        .iter()
        .map(|entry| {
            let (module, attribute) = entry
                .split_once(':')
                .filter(|(m, a)| is_dotted_identifier(m) && is_dotted_identifier(a))
                .ok_or_else(|| {
                    format!(
                        "`{entry}` is not `module:callable` (for example \
                         `werkzeug.middleware.proxy_fix:ProxyFix`)"
                    )
                })?;
            Ok((module.to_owned(), attribute.to_owned()))
        })
        .collect()
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

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn is_dotted_identifier(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_identifier)
}
