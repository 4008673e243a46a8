//! Who may serve a host name: the operator's bindings (`[names]` in wsgi-wasm.toml) and the
//! names sites already hold (`<state>/names.json`). Applied by `load_sites` after every
//! site.toml is read and before anything is routed (`router.rs`), so a tenant's site.toml
//! can never take a name another site serves.
//!
//! The rules, in order, for each `server_names` entry of a site and for `default = true`:
//! 1. A pattern the operator bound (`[names.bind]`, exactly or under a bound `*.` wildcard)
//!    belongs to the bound site; any other site claiming it is refused. The bound site serves
//!    its bound patterns even when its site.toml does not list them.
//! 2. With `only_bound = true`, a site may claim nothing else.
//! 3. A pattern another site holds (it served it first and still lists it), or one under a
//!    `*.` wildcard another site holds, is refused to the newcomer. A holder whose site.toml
//!    is broken keeps its names: its last good configuration still serves them.
//! 4. A pattern nobody holds goes to the first site claiming it, in folder name order.
//!
//! A wildcard never takes a name an exact entry holds: routing tries exact names first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::host_name::{is_site_name, normalize_server_name};
use super::site::Site;
use super::site::SITE_FILE;

/// The operator's `[names]` table, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameRules {
    /// `(pattern, site)`: lower-cased `host` or `*.suffix`.
    pub bind: Vec<(String, String)>,
    /// The site that is the default site, whatever the site.toml files say.
    pub default_site: Option<String>,
    /// Sites may serve only the names bound to them.
    pub only_bound: bool,
    /// The server config file, for messages (`wsgi-wasm.toml` when there is none).
    pub file: PathBuf,
}

/// `[names]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNames {
    #[serde(default)]
    bind: BTreeMap<String, String>,
    default_site: Option<String>,
    only_bound: Option<bool>,
}

impl NameRules {
    /// Validates `[names]` of the server config `file`.
    pub(super) fn resolve(raw: &RawNames, file: &Path) -> Result<NameRules, ConfigError> {
        let mut bind = Vec::new();
        for (pattern, site) in &raw.bind {
            let key = format!("names.bind.{pattern}");
            let pattern = normalize_server_name(pattern)
                .map_err(|reason| ConfigError::new(file, &key, reason))?;
            if !is_site_name(site) {
                return Err(ConfigError::new(
                    file,
                    &key,
                    format!("`{site}` is not a site folder name"),
                ));
            }
            if let Some((_, other)) = bind.iter().find(|(p, _)| p == &pattern) {
                return Err(ConfigError::new(
                    file,
                    &key,
                    format!("`{pattern}` is bound twice (to `{other}` and `{site}`)"),
                ));
            }
            bind.push((pattern, site.clone()));
        }
        if let Some(site) = raw.default_site.as_deref().filter(|s| !is_site_name(s)) {
            return Err(ConfigError::new(
                file,
                "names.default_site",
                format!("`{site}` is not a site folder name"),
            ));
        }
        Ok(NameRules {
            bind,
            default_site: raw.default_site.clone(),
            only_bound: raw.only_bound.unwrap_or(false),
            file: file.to_path_buf(),
        })
    }

    /// The site a pattern is bound to: an exact binding, else the longest bound wildcard
    /// covering it.
    fn bound(&self, pattern: &str) -> Option<(&str, &str)> {
        if let Some((p, site)) = self.bind.iter().find(|(p, _)| p == pattern) {
            return Some((p, site));
        }
        self.bind
            .iter()
            .filter(|(p, _)| covers(p, pattern))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, site)| (p.as_str(), site.as_str()))
    }

    fn where_(&self) -> String {
        format!("`{}` [names]", self.file.display())
    }
}

/// The names sites hold, kept in the state folder so the holder keeps them at the next start
/// whatever folder sorts first: `<state>/names/<hash of the sites folder's path>.json`, one
/// file per sites folder, since several servers may share one state folder (its build cache).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// The sites folder these sites are in (for whoever reads the file).
    #[serde(default)]
    pub sites: PathBuf,
    /// Pattern → site.
    pub names: BTreeMap<String, String>,
    /// The site that holds `default = true`.
    pub default: Option<String>,
}

impl Held {
    /// The file for the sites folder `sites` in the state folder `state`.
    fn file(state: &Path, sites: &Path) -> PathBuf {
        use sha2::Digest;
        let sites = std::path::absolute(sites).unwrap_or_else(|_| sites.to_path_buf());
        let digest = sha2::Sha256::digest(sites.as_os_str().as_encoded_bytes());
        state
            .join("names")
            .join(format!("{}.json", &hex::encode(digest)[..16]))
    }

    /// What the file says; nothing held when it is missing or unreadable (the state folder
    /// is the operator's: a broken file is logged and started over).
    pub fn load(state: &Path, sites: &Path) -> Held {
        let path = Held::file(state, sites);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(
                    "`{}` is not a names file ({error}); starting over",
                    path.display()
                );
                Held::default()
            }),
            Err(_) => Held::default(),
        }
    }

    /// Writes the file (whole, by rename), unless it already says the same.
    pub fn save(&self, state: &Path, sites: &Path) -> std::io::Result<()> {
        if &Held::load(state, sites) == self {
            return Ok(());
        }
        let path = Held::file(state, sites);
        std::fs::create_dir_all(path.parent().expect("a names folder"))?;
        let partial = path.with_extension("partial");
        let mut held = self.clone();
        held.sites = std::path::absolute(sites).unwrap_or_else(|_| sites.to_path_buf());
        let text = serde_json::to_vec_pretty(&held).map_err(std::io::Error::other)?;
        std::fs::write(&partial, text)?;
        std::fs::rename(partial, path)
    }
}

/// Whether the wildcard `pattern` (`*.suffix`) covers `name` (a host or a narrower wildcard).
pub fn covers(pattern: &str, name: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix('*') else {
        return false;
    };
    let body = name.strip_prefix('*').unwrap_or(name);
    body.len() > suffix.len() && body.ends_with(suffix)
}

/// Applies the rules to the sites loaded; refused sites move to `errors`. `present` are the
/// site folders that have a site.toml, valid or not (a holder whose file is broken keeps its
/// names). Returns what is held once these sites serve.
pub fn assign(
    sites: &mut Vec<Site>,
    errors: &mut Vec<ConfigError>,
    rules: &NameRules,
    held: &Held,
    present: &BTreeSet<String>,
) -> Held {
    // A holder keeps a name while its folder is there and its site.toml (when valid) still
    // lists it; a broken site.toml keeps everything its last good configuration serves.
    let listed: BTreeMap<String, (BTreeSet<String>, bool)> = sites
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                (s.server_names.iter().cloned().collect(), s.default),
            )
        })
        .collect();
    let holds = |owner: &String, pattern: &str| {
        present.contains(owner)
            && listed
                .get(owner)
                .is_none_or(|(names, _)| names.contains(pattern))
    };
    let holder = |pattern: &str| {
        held.names
            .get(pattern)
            .filter(|owner| holds(owner, pattern))
    };
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let mut default_site = match &rules.default_site {
        Some(site) => Some(site.clone()),
        None => held.default.clone().filter(|owner| {
            present.contains(owner) && listed.get(owner).is_none_or(|(_, default)| *default)
        }),
    };
    sites.retain_mut(|site| {
        let file = site.dir.join(SITE_FILE);
        let refuse = |errors: &mut Vec<ConfigError>, key: &str, reason: String| {
            errors.push(ConfigError::new(&file, key, reason));
            false
        };
        for name in &site.server_names {
            if let Some((pattern, owner)) = rules.bound(name) {
                if owner != site.name {
                    let how = if pattern == name {
                        String::new()
                    } else {
                        format!(" (under `{pattern}`)")
                    };
                    return refuse(
                        errors,
                        "server_names",
                        format!(
                            "`{name}` is bound to site `{owner}`{how} by {}",
                            rules.where_()
                        ),
                    );
                }
                continue;
            }
            if rules.only_bound {
                return refuse(
                    errors,
                    "server_names",
                    format!(
                        "`{name}` is not bound to this site by {}, and `only_bound = true` \
                         serves only bound names",
                        rules.where_()
                    ),
                );
            }
            if let Some(owner) = holder(name).filter(|owner| *owner != &site.name) {
                return refuse(
                    errors,
                    "server_names",
                    format!("`{name}` is already held by site `{owner}`, which served it first"),
                );
            }
            if let Some(owner) = claimed.get(name).filter(|owner| *owner != &site.name) {
                return refuse(
                    errors,
                    "server_names",
                    format!(
                        "`{name}` is already claimed by site `{owner}` (the first folder in \
                         name order that claims it)"
                    ),
                );
            }
            if holder(name) == Some(&site.name) {
                continue;
            }
            // A new claim: not under a wildcard another site holds.
            let under = held
                .names
                .iter()
                .filter(|(pattern, owner)| *owner != &site.name && holds(owner, pattern))
                .find(|(pattern, _)| covers(pattern, name));
            if let Some((pattern, owner)) = under {
                return refuse(
                    errors,
                    "server_names",
                    format!("`{name}` is under `{pattern}`, which site `{owner}` holds"),
                );
            }
        }
        if site.default {
            let fixed = rules.default_site.is_some() || rules.only_bound;
            match &default_site {
                Some(owner) if owner != &site.name => {
                    let reason = if fixed {
                        format!("{} makes site `{owner}` the default site", rules.where_())
                    } else {
                        format!("site `{owner}` is already the default site")
                    };
                    return refuse(errors, "default", reason);
                }
                None if fixed => {
                    return refuse(
                        errors,
                        "default",
                        format!("{} names no default site (`default_site`)", rules.where_()),
                    );
                }
                _ => default_site = Some(site.name.clone()),
            }
        }
        // The operator's bindings for this site serve even when its site.toml omits them.
        for (pattern, owner) in &rules.bind {
            if owner == &site.name && !site.server_names.contains(pattern) {
                site.server_names.push(pattern.clone());
            }
        }
        if rules.default_site.as_deref() == Some(site.name.as_str()) {
            site.default = true;
        }
        for name in &site.server_names {
            claimed.insert(name.clone(), site.name.clone());
        }
        true
    });
    // Sites that serve now hold what they claim; sites present but refused keep theirs.
    let serving: BTreeSet<&str> = sites.iter().map(|s| s.name.as_str()).collect();
    let mut now = Held {
        sites: held.sites.clone(),
        ..Held::default()
    };
    for (pattern, owner) in &held.names {
        if present.contains(owner) && !serving.contains(owner.as_str()) {
            now.names.insert(pattern.clone(), owner.clone());
        }
    }
    for (pattern, owner) in claimed {
        if rules.bound(&pattern).is_none() {
            now.names.entry(pattern).or_insert(owner);
        }
    }
    now.default = sites
        .iter()
        .find(|s| s.default)
        .map(|s| s.name.clone())
        .or_else(|| {
            held.default
                .clone()
                .filter(|s| present.contains(s) && !serving.contains(s.as_str()))
        });
    now
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn names_wildcards_cover_names_and_narrower_wildcards_below_them() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "*.a.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "aexample.com"));
        assert!(!covers("a.example.com", "a.example.com"));
    }
}
