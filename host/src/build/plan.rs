//! What one site build is made from, as plain data.
//!
//! The server makes a [`Plan`] from a site's validated configuration and hashes it
//! ([`Plan::hash`]): the hash is the cache key of the site's component, so an unchanged site
//! is never rebuilt. When the cache lacks it, the plan goes to a build process of its own
//! (`child.rs`) as JSON, with the site folder's handle, and the build process stages, hashes
//! and builds exactly what the plan says (`site.rs`).
//!
//! The hash covers everything that can change the component: the build format and
//! componentize-py versions, the WIT world and the bridge, the package index, the site's
//! generated config module (its resolved app settings), every file on its python path and its
//! requirements file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::hash::ContentHash;
use super::toolchain::{COMPONENTIZE_PY_VERSION, UV_VERSION};
use super::tree::{self, Tally, TreeLimits};
use crate::config::{AppConfig, BuildConfig, Site, SiteDir};

/// Bump when the layout of a build folder or the way it is made changes.
pub const BUILD_FORMAT: &str = "wsgi-wasm-build-3";

/// Where the inputs shared by every site live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// The WIT world folder.
    pub wit: PathBuf,
    /// The folder that holds the `wsgi_bridge` package.
    pub bridge: PathBuf,
    /// The content hash of both (they are embedded in the binary).
    pub hash: String,
}

/// The limits a build process runs under (`[build]` in wsgi-wasm.toml and the site's
/// `memory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLimits {
    /// The site's own files the build reads.
    pub tree: TreeLimits,
    /// Total apparent size of the vendored requirements.
    pub max_packages: u64,
    /// The build process's data memory (`RLIMIT_DATA`): the site's `memory` plus the margin.
    pub memory: u64,
    /// Wall-clock time of the whole build.
    pub timeout: Duration,
}

/// One site build, as the server asks a build process for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub site: String,
    /// The site folder's path, for messages only: the build process gets the folder itself.
    pub site_path: PathBuf,
    /// Folders of the site (relative to it) staged at guest paths `/1`, `/2`, …
    pub python_path: Vec<PathBuf>,
    /// The requirements file, relative to the site folder.
    pub requirements: Option<PathBuf>,
    /// Folders of the site never built into the component (static root, data folders).
    pub not_built: Vec<PathBuf>,
    /// The generated `wsgi_site_config` module, without the native-extension table.
    pub config_module: String,
    pub sources: Sources,
    /// The server's state folder: builds, caches, the toolchain.
    pub state: PathBuf,
    pub index_url: String,
    pub limits: BuildLimits,
    /// Compile for the engine of `isolation = "request"` sites (else of reused instances).
    pub fresh_instances: bool,
}

impl Plan {
    /// The plan of `site`'s app `app`.
    pub fn new(
        site: &Site,
        app: &AppConfig,
        sources: &Sources,
        state: &Path,
        build: &BuildConfig,
    ) -> Plan {
        let static_root = site.static_root.iter().filter_map(|s| s.root.clone());
        let not_built = static_root
            .chain(app.data.iter().map(|(dir, _)| dir.clone()))
            .collect();
        Plan {
            site: site.name.clone(),
            site_path: site.dir.clone(),
            python_path: app.python_path.clone(),
            requirements: app.requirements.clone(),
            not_built,
            config_module: site_config_module(site, app),
            sources: sources.clone(),
            state: state.to_path_buf(),
            index_url: build.index_url.clone(),
            limits: BuildLimits {
                tree: TreeLimits {
                    max_bytes: build.max_site_size,
                    max_files: build.max_site_files,
                },
                max_packages: build.max_packages_size,
                memory: site.limits.memory.saturating_add(build.memory_margin),
                timeout: build.timeout,
            },
            fresh_instances: site.limits.isolation == crate::config::Isolation::Request,
        }
    }

    /// The content hash of the plan's inputs, read through the site folder's handle.
    pub fn hash(&self, root: &SiteDir) -> Result<String> {
        let mut hash = self.hasher();
        let mut tally = Tally::default();
        for (index, folder) in self.python_path.iter().enumerate() {
            let files = tree::list(root, folder, &self.not_built, &self.limits.tree, &mut tally)?;
            hash_tree(&mut hash, index, &files);
            for file in &files {
                hash.begin(&file.relative, file.size);
                tree::read(root, folder, file, |bytes| {
                    hash.update(bytes);
                    Ok(())
                })?;
            }
        }
        if self.requirements.is_some() {
            let text = self.read_requirements(root)?;
            hash.bytes("requirements", text.as_bytes());
        }
        Ok(hash.finish())
    }

    /// The hash with everything but the site's files in it; the trees follow with
    /// [`hash_tree`] and each file's bytes.
    pub fn hasher(&self) -> ContentHash {
        let mut hash = ContentHash::new(BUILD_FORMAT);
        hash.text("componentize-py", COMPONENTIZE_PY_VERSION);
        hash.text("uv", UV_VERSION);
        hash.text("sources", &self.sources.hash);
        hash.text("index", &self.index_url);
        hash.text("config", &self.config_module);
        hash
    }

    /// The requirements file's text: UTF-8 and at most `requirements::MAX_BYTES`, read
    /// through the site folder's handle (a symlink out of the site, a FIFO or a foreign hard
    /// link is refused).
    pub fn read_requirements(&self, root: &SiteDir) -> Result<String> {
        let Some(path) = &self.requirements else {
            return Ok(String::new());
        };
        let bytes = root
            .read_file(path, super::requirements::MAX_BYTES as u64)
            .map_err(|reason| anyhow::anyhow!("`{}`: {reason}", root.display(path).display()))?;
        String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("`{}` is not UTF-8 text", root.display(path).display()))
    }
}

/// Starts python-path folder number `index` (staged at `/index+1`) with its file count.
pub fn hash_tree(hash: &mut ContentHash, index: usize, files: &[tree::Listed]) {
    hash.text(&format!("python_path/{index}"), &files.len().to_string());
}

/// The `wsgi_site_config` module the bridge reads at build time (without `NATIVE`, which
/// the build adds once the requirements are vendored: it follows from them).
pub fn site_config_module(site: &Site, app: &AppConfig) -> String {
    let dict = |map: &std::collections::BTreeMap<String, String>| {
        let pairs: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{}: {}", py_str(k), py_str(v)))
            .collect();
        format!("{{{}}}", pairs.join(", "))
    };
    let list = |items: &[String]| {
        let items: Vec<String> = items.iter().map(|m| py_str(m)).collect();
        format!("[{}]", items.join(", "))
    };
    let middleware: Vec<String> = app
        .middleware
        .iter()
        .map(|(module, attribute)| format!("({}, {})", py_str(module), py_str(attribute)))
        .collect();
    let mut module = format!(
        "# Generated by wsgi-wasm for this build; do not edit.\n\
         SITE = {}\nMODULE = {}\nCALLABLE = {}\nPRELOAD = {}\nENV = {}\nWARMUP = {}\n\
         MIDDLEWARE = [{}]\nOPTIMIZE = {}\n",
        py_str(&site.name),
        py_str(&app.module),
        py_str(&app.callable),
        list(&app.preload),
        dict(&app.env),
        list(&app.warmup),
        middleware.join(", "),
        app.optimize,
    );
    // What only the warmup requests read: without warmup URLs, a change to the names, the
    // mount or the vars does not rebuild the site.
    if !app.warmup.is_empty() {
        // The first exact server name (a wildcard names no host).
        let host = site
            .server_names
            .iter()
            .find(|name| !name.starts_with("*."))
            .map_or("localhost", String::as_str);
        module.push_str(&format!(
            "WARMUP_HOST = {}\nMOUNT = {}\nVARS = {}\n",
            py_str(host),
            py_str(&app.mount),
            dict(&app.vars),
        ));
    }
    module
}

/// A Python string literal for any text (escapes everything outside printable ASCII).
pub fn py_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}
