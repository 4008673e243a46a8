//! Every site folder of the sites folder read, each through its own handle, and the host
//! names given out among them (`names.rs`): the sites a server starts or reloads with.

use std::collections::BTreeSet;
use std::path::Path;

use super::error::ConfigError;
use super::names::{self, Held, NameRules};
use super::server::ServerConfig;
use super::site::{load_site, Site, SiteDefaults, SITE_FILE};
use super::site_dir::SiteDir;

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
pub fn read_sites(server: &ServerConfig) -> anyhow::Result<(Vec<Site>, Vec<ConfigError>, Held)> {
    let held = Held::load(&server.state, &server.sites);
    load_sites(&server.sites, &server.defaults, &server.names, &held)
}
