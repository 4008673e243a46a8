//! The `[static]` table: shared by `site.toml` and the server's `[defaults.static]`, where a
//! site's own value wins over the default, and the default over the built-in one.
//!
//! ```toml
//! [static]
//! root = "public"            # folder inside the site folder; served before the app
//! index = ["index.html"]     # files tried for a directory request
//! allow_ranges = true        # wsgi_allow_ranges: answer Range requests
//! disable_symlinks = false   # refuse symlinks inside the root too
//! expires = "1h"             # Cache-Control max-age and Expires; off when absent
//! precompressed = true       # serve .br / .gz siblings to clients that accept them
//!
//! [static.from_packages]     # nginx `location PREFIX { alias DIR; }` into the site's
//! "/static/admin/" = "django/contrib/admin/static/admin"   # vendored packages
//! ```
//!
//! `root` may be left out when `from_packages` is given. The folders of `from_packages` are
//! only known once the requirements are vendored: the build resolves them (`build::site`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::parse::{duration, folder_in, relative};
use super::site_dir::SiteDir;

/// Options for one site's static root, already validated.
#[derive(Debug, Clone)]
pub struct StaticOptions {
    /// `wsgi_allow_ranges`: answer `Range` requests (and advertise `Accept-Ranges`).
    pub allow_ranges: bool,
    /// nginx `disable_symlinks`: refuse symlinks inside the root too.
    pub disable_symlinks: bool,
    /// When set: `Cache-Control: max-age=N` and `Expires`.
    pub expires: Option<Duration>,
    /// Index file names tried, in order, for a directory request.
    pub index: Vec<String>,
    /// Serve `.br`/`.gz` siblings to clients that accept them.
    pub precompressed: bool,
}

impl Default for StaticOptions {
    fn default() -> Self {
        StaticOptions {
            allow_ranges: true,
            disable_symlinks: false,
            expires: None,
            index: vec!["index.html".to_owned()],
            precompressed: true,
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatic {
    pub root: Option<String>,
    pub index: Option<Vec<String>>,
    pub allow_ranges: Option<bool>,
    pub disable_symlinks: Option<bool>,
    pub expires: Option<String>,
    pub precompressed: Option<bool>,
    pub from_packages: Option<BTreeMap<String, String>>,
}

/// Validated defaults, applied under every site's own `[static]` values.
#[derive(Debug, Clone, Default)]
pub struct StaticDefaults(pub StaticOptions);

impl StaticDefaults {
    /// `[defaults.static]` of the server config: every key but `root`.
    pub fn resolve(raw: &RawStatic, file: &Path) -> Result<Self, ConfigError> {
        if let Some(root) = &raw.root {
            return Err(ConfigError::new(
                file,
                "defaults.static.root",
                format!("`{root}`: each site names its own root in its site.toml"),
            ));
        }
        if raw.from_packages.is_some() {
            return Err(ConfigError::new(
                file,
                "defaults.static.from_packages",
                "each site names its own package folders in its site.toml",
            ));
        }
        let mut options = StaticOptions::default();
        apply(&mut options, raw, file, "defaults.static")?;
        Ok(Self(options))
    }
}

/// A site's resolved static root: the folder, the package folders and their options.
#[derive(Debug, Clone)]
pub struct StaticConfig {
    /// The site's own static root (relative to the site folder); `None` when only
    /// `from_packages` is served.
    pub root: Option<PathBuf>,
    pub options: StaticOptions,
    /// `[static.from_packages]`, longest prefix first.
    pub from_packages: Vec<PackageFolder>,
}

/// One `[static.from_packages]` entry: a URL prefix served from a folder of the site's
/// vendored packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFolder {
    /// The prefix as written (`/static/admin/`), for messages.
    pub prefix: String,
    /// Its segments (`["static", "admin"]`), matched against the decoded request path.
    pub segments: Vec<String>,
    /// The folder inside the vendored packages, `/`-separated, as a relative path.
    pub folder: PathBuf,
    /// The value as written, for messages.
    pub written: String,
}

pub fn resolve(
    raw: &RawStatic,
    defaults: &StaticDefaults,
    site: &SiteDir,
    file: &Path,
) -> Result<StaticConfig, ConfigError> {
    let from_packages = package_folders(raw.from_packages.as_ref(), file)?;
    let root = match raw.root.as_deref() {
        None if !from_packages.is_empty() => None,
        None => {
            return Err(ConfigError::new(
                file,
                "static.root",
                "missing: the folder to serve, such as `public`",
            ))
        }
        Some(root_entry) => {
            let root = relative(root_entry)
                .map_err(|reason| ConfigError::new(file, "static.root", reason))?;
            folder_in(site, root_entry, &root)
                .map_err(|reason| ConfigError::new(file, "static.root", reason))?;
            Some(root)
        }
    };
    let mut options = defaults.0.clone();
    apply(&mut options, raw, file, "static")?;
    Ok(StaticConfig {
        root,
        options,
        from_packages,
    })
}

/// At most this many `from_packages` entries per site.
const MAX_PACKAGE_FOLDERS: usize = 64;

fn package_folders(
    raw: Option<&BTreeMap<String, String>>,
    file: &Path,
) -> Result<Vec<PackageFolder>, ConfigError> {
    let key = "static.from_packages";
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_PACKAGE_FOLDERS {
        return Err(ConfigError::new(
            file,
            key,
            format!("{} entries: at most {MAX_PACKAGE_FOLDERS}", raw.len()),
        ));
    }
    let mut folders = Vec::new();
    for (prefix, folder) in raw {
        let segments = url_prefix(prefix).ok_or_else(|| {
            ConfigError::new(
                file,
                key,
                format!("`{prefix}` is not a URL path prefix such as `/static/admin/` (starts and ends with `/`, no `.`, `..`, dot-files, `%`, `?`, `#` or `\\`)"),
            )
        })?;
        let relative = package_folder(folder).ok_or_else(|| {
            ConfigError::new(
                file,
                key,
                format!("`{folder}` (for `{prefix}`) must be a relative folder inside the vendored packages, such as `django/contrib/admin/static/admin`, without `..`"),
            )
        })?;
        folders.push(PackageFolder {
            prefix: prefix.clone(),
            segments,
            folder: relative,
            written: folder.clone(),
        });
    }
    folders.sort_by_key(|folder| std::cmp::Reverse(folder.segments.len()));
    Ok(folders)
}

/// The segments of a URL prefix written `/a/b/`: each plain, none a dot-file.
fn url_prefix(prefix: &str) -> Option<Vec<String>> {
    if prefix == "/" {
        // Every path, as nginx's `location /`.
        return Some(Vec::new());
    }
    let inner = prefix.strip_prefix('/')?.strip_suffix('/')?;
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && !s
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "%?#\\\0".contains(c))
    };
    let segments: Vec<String> = inner.split('/').map(str::to_owned).collect();
    segments.iter().all(|s| plain(s)).then_some(segments)
}

/// A relative folder of normal components (a `./` is dropped), no `..`, no absolute path.
fn package_folder(folder: &str) -> Option<PathBuf> {
    if folder.contains(['\\', '\0']) {
        return None;
    }
    let mut relative = PathBuf::new();
    for component in Path::new(folder).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!relative.as_os_str().is_empty()).then_some(relative)
}

fn apply(
    options: &mut StaticOptions,
    raw: &RawStatic,
    file: &Path,
    table: &str,
) -> Result<(), ConfigError> {
    if let Some(index) = &raw.index {
        for name in index {
            let plain = !name.is_empty()
                && !name.contains(['/', '\\', '\0'])
                && name != "."
                && name != "..";
            if !plain {
                return Err(ConfigError::new(
                    file,
                    format!("{table}.index"),
                    format!("`{name}` is not a file name"),
                ));
            }
        }
        options.index = index.clone();
    }
    if let Some(value) = raw.allow_ranges {
        options.allow_ranges = value;
    }
    if let Some(value) = raw.disable_symlinks {
        options.disable_symlinks = value;
    }
    if let Some(value) = &raw.expires {
        let parsed = duration(value)
            .map_err(|reason| ConfigError::new(file, format!("{table}.expires"), reason))?;
        options.expires = Some(parsed);
    }
    if let Some(value) = raw.precompressed {
        options.precompressed = value;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{package_folder, url_prefix};

    #[test]
    fn static_from_packages_prefixes() {
        assert_eq!(url_prefix("/static/admin/").unwrap(), ["static", "admin"]);
        assert_eq!(url_prefix("/").unwrap(), Vec::<String>::new());
        for bad in [
            "static/", "/static", "//", "/a//b/", "/../", "/./", "/.git/", "/a%2f/", "/a b/",
            "/a?/", "/a\\b/", "",
        ] {
            assert!(url_prefix(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn static_from_packages_folders() {
        assert_eq!(
            package_folder("a/b/c").unwrap(),
            std::path::Path::new("a/b/c")
        );
        assert_eq!(package_folder("./a/").unwrap(), std::path::Path::new("a"));
        for bad in ["", ".", "/etc", "a/../b", "..", "a\\b"] {
            assert!(package_folder(bad).is_none(), "{bad:?}");
        }
    }
}
