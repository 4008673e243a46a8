//! One site folder → one component, cached under `<state>/sites/<name>/<hash>/`.
//!
//! Steps, in order: hash the inputs; reuse the cached build when that hash is there; else
//! stage the inputs (the bridge and generated config at guest path `/0`, the site's python
//! path at `/1`…, vendored requirements last), vendor requirements with pip for the guest's
//! CPython (native extension files are removed and named in the config module, see
//! `native.rs`), run componentize-py (which imports the bridge: it loads the app and runs
//! the site's `warmup` URLs), and move the finished folder into place atomically. The staged
//! folders stay: the server mounts them read-only at the same guest paths, so modules first
//! imported at request time load, and `[static.from_packages]` folders are served from them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use super::hash::{copy_tree, ContentHash};
use super::native::{self, NativeFile};
use super::toolchain::{Toolchain, COMPONENTIZE_PY_VERSION};
use crate::config::{AppConfig, ConfigError, Site, SITE_FILE};

/// Bump when the layout of a build folder or the way it is made changes.
const BUILD_FORMAT: &str = "wsgi-wasm-build-2";

/// Where the inputs shared by every site live.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The WIT world folder.
    pub wit: PathBuf,
    /// The folder that holds the `wsgi_bridge` package.
    pub bridge: PathBuf,
}

/// A finished build of one site.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The build folder.
    pub dir: PathBuf,
    /// The component made by componentize-py.
    pub component: PathBuf,
    /// Folders mounted read-only at guest paths `/0`, `/1`, … in this order.
    pub python_dirs: Vec<PathBuf>,
    /// The vendored requirements (the last of `python_dirs`), when the site has any.
    pub packages: Option<PathBuf>,
}

/// Why a build failed: the Python output is what the site's author needs to see.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("site `{site}`: importing the app failed while building its component:\n{output}")]
    Python { site: String, output: String },
    /// An import of a native extension the build removed (see `native.rs`).
    #[error("site `{site}`: {reason}\n{output}")]
    Native {
        site: String,
        reason: String,
        output: String,
    },
    /// A `warmup` URL raised or answered 5xx while the component was built.
    #[error("site `{site}`: `app.warmup`: {reason}\n{output}")]
    Warmup {
        site: String,
        reason: String,
        output: String,
    },
    #[error("site `{site}`: vendoring `{requirements}` failed:\n{output}")]
    Requirements {
        site: String,
        requirements: String,
        output: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The cache key of a site's build.
pub fn hash_inputs(site: &Site, app: &AppConfig, sources: &Sources) -> Result<String> {
    let mut hash = ContentHash::new(BUILD_FORMAT);
    hash.text("componentize-py", COMPONENTIZE_PY_VERSION);
    hash.tree("wit", &sources.wit, &[])?;
    hash.tree("bridge", &sources.bridge.join("wsgi_bridge"), &[])?;
    hash.text("config", &site_config_module(site, app));
    for (index, dir) in app.python_path.iter().enumerate() {
        super::hash::confine(&site.dir, dir, &not_built(site, app))?;
        hash.tree(&format!("python_path/{index}"), dir, &not_built(site, app))?;
    }
    if let Some(requirements) = &app.requirements {
        let text = std::fs::read(requirements)
            .with_context(|| format!("cannot read `{}`", requirements.display()))?;
        hash.bytes("requirements", &text);
    }
    Ok(hash.finish())
}

/// The finished build for `hash`, if the cache has it.
pub fn cached(state_dir: &Path, site: &Site, hash: &str) -> Option<Artifact> {
    let dir = site_builds(state_dir, &site.name).join(hash);
    let component = dir.join("component.wasm");
    if !component.is_file() {
        return None;
    }
    let mut python_dirs = Vec::new();
    while dir.join("py").join(python_dirs.len().to_string()).is_dir() {
        python_dirs.push(dir.join("py").join(python_dirs.len().to_string()));
    }
    let vendored = site
        .app
        .as_ref()
        .is_some_and(|app| app.requirements.is_some());
    let packages = python_dirs.last().filter(|_| vendored).cloned();
    Some(Artifact {
        dir,
        component,
        python_dirs,
        packages,
    })
}

/// The folders of `[static.from_packages]`, each checked to be a folder inside the site's
/// vendored packages: `(URL prefix segments, packages folder, folder inside it)`.
pub fn package_folders(
    site: &Site,
    artifact: &Artifact,
) -> Result<Vec<(Vec<String>, PathBuf, PathBuf)>, ConfigError> {
    let Some(config) = &site.static_root else {
        return Ok(Vec::new());
    };
    let file = site.dir.join(SITE_FILE);
    let mut found = Vec::new();
    for entry in &config.from_packages {
        let missing = |why: &str| {
            ConfigError::new(
                &file,
                "static.from_packages",
                format!(
                    "`{}` (for `{}`) {why} the site's vendored packages",
                    entry.written, entry.prefix
                ),
            )
        };
        let Some(packages) = &artifact.packages else {
            return Err(missing("cannot be looked up: there are no"));
        };
        let inside = packages
            .canonicalize()
            .and_then(|base| Ok((base, packages.join(&entry.folder).canonicalize()?)))
            .is_ok_and(|(base, dir)| dir.starts_with(base) && dir.is_dir());
        if !inside {
            return Err(missing("is not a folder in"));
        }
        found.push((
            entry.segments.clone(),
            packages.clone(),
            entry.folder.clone(),
        ));
    }
    Ok(found)
}

/// Builds the site's component for `hash` (from [`hash_inputs`]).
pub fn build(
    state_dir: &Path,
    site: &Site,
    app: &AppConfig,
    hash: &str,
    sources: &Sources,
    toolchain: &Toolchain,
) -> Result<Artifact, BuildError> {
    let builds = site_builds(state_dir, &site.name);
    let work = builds.join(format!("{hash}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let py = work.join("py");

    let bridge_dir = py.join("0");
    copy_tree(
        &sources.bridge.join("wsgi_bridge"),
        &bridge_dir.join("wsgi_bridge"),
        &[],
    )?;
    let mut python_dirs = vec![bridge_dir.clone()];
    for dir in &app.python_path {
        let staged = py.join(python_dirs.len().to_string());
        copy_tree(dir, &staged, &not_built(site, app))?;
        python_dirs.push(staged);
    }
    let mut native = Vec::new();
    if let Some(requirements) = &app.requirements {
        let staged = py.join(python_dirs.len().to_string());
        native = vendor(site, requirements, &staged, toolchain)?;
        python_dirs.push(staged);
    }
    let config = site_config_module(site, app) + &native_table(&native);
    std::fs::write(bridge_dir.join("wsgi_site_config.py"), config)
        .context("cannot write the site config module")?;

    let started = Instant::now();
    let no_venv = work.join("no-venv");
    std::fs::create_dir_all(&no_venv).context("cannot create the build folder")?;
    let component = work.join("component.wasm");
    let mut command = Command::new(&toolchain.componentize_py);
    super::dies_with_server(&mut command)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &work)
        .env("VIRTUAL_ENV", &no_venv)
        .arg("-d")
        .arg(&sources.wit)
        .args(["-w", "wsgi", "componentize", "wsgi_bridge"]);
    for dir in &python_dirs {
        command.arg("-p").arg(dir);
    }
    let output = command
        .arg("-o")
        .arg(&component)
        .output()
        .with_context(|| format!("cannot run `{}`", toolchain.componentize_py.display()))?;
    if !output.status.success() || !component.is_file() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        if !native.is_empty() {
            text.push_str("\nThese native extension files have no WASI build and were left out:\n");
            for file in &native {
                text.push_str(&format!("  {} (package `{}`)\n", file.file, file.package));
            }
        }
        let _ = std::fs::remove_dir_all(&work);
        return Err(classify(&site.name, text.trim_end().to_owned()));
    }
    let _ = std::fs::remove_dir_all(&no_venv);
    tracing::debug!(site = %site.name, seconds = started.elapsed().as_secs_f64(), "componentize-py done");

    let dir = builds.join(hash);
    if std::fs::rename(&work, &dir).is_err() {
        // Another process finished the same build first; its copy is identical.
        let _ = std::fs::remove_dir_all(&work);
    }
    cached(state_dir, site, hash)
        .with_context(|| format!("the build folder `{}` is incomplete", dir.display()))
        .map_err(BuildError::Other)
}

/// Holds the site's build lock (an exclusive file lock) until dropped, so two processes
/// sharing a state folder never build the same site at once.
pub fn lock_site(state_dir: &Path, site: &Site) -> Result<std::fs::File> {
    let dir = site_builds(state_dir, &site.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(".lock");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(file)
}

/// Folders of the site that are never built into the component: the static root (served
/// from the site folder: editing a stylesheet does not rebuild the app) and the data folders
/// (the app's own writable state, mounted at run time).
fn not_built<'a>(site: &'a Site, app: &'a AppConfig) -> Vec<&'a Path> {
    let static_root = site.static_root.iter().filter_map(|s| s.root.as_deref());
    static_root
        .chain(app.data.iter().map(|(dir, _)| dir.as_path()))
        .collect()
}

fn site_builds(state_dir: &Path, site: &str) -> PathBuf {
    state_dir.join("sites").join(site)
}

/// Installs the requirements for the guest's CPython 3.14 into `target`. Returns the native
/// extension files that were removed (they cannot load under WASI; packages such as
/// MarkupSafe fall back to pure Python without them).
fn vendor(
    site: &Site,
    requirements: &Path,
    target: &Path,
    toolchain: &Toolchain,
) -> Result<Vec<NativeFile>, BuildError> {
    let output = super::dies_with_server(&mut Command::new(&toolchain.python))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args([
            "--python-version",
            "3.14",
            "--implementation",
            "cp",
            "--only-binary=:all:",
        ])
        .args(["--platform", "manylinux2014_x86_64", "--platform", "any"])
        .arg("--target")
        .arg(target)
        .arg("-r")
        .arg(requirements)
        .output()
        .with_context(|| format!("cannot run `{} -m pip`", toolchain.python.display()))?;
    if !output.status.success() {
        return Err(BuildError::Requirements {
            site: site.name.clone(),
            requirements: requirements.display().to_string(),
            output: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned(),
        });
    }
    let _ = std::fs::remove_dir_all(target.join("bin"));
    Ok(native::strip(target)?)
}

/// The build error for componentize-py's `output`: a missing native extension and a failed
/// warmup request are told apart from other import failures by the bridge's messages
/// (`hints.native_message`, `warmup.WarmupError`).
fn classify(site: &str, output: String) -> BuildError {
    let site = site.to_owned();
    let last_line = |marker: &str| {
        output.lines().rev().find_map(|line| {
            line.split_once(marker)
                .map(|(_, rest)| rest.trim().to_owned())
        })
    };
    if let Some(reason) = last_line("wsgi_bridge.warmup.WarmupError: ") {
        return BuildError::Warmup {
            site,
            reason,
            output,
        };
    }
    let native = output
        .lines()
        .rev()
        .find(|line| line.contains("which has no WebAssembly build"))
        .and_then(|line| {
            line.find("package `")
                .map(|at| line[at..].trim().to_owned())
        });
    match native {
        Some(reason) => BuildError::Native {
            site,
            reason,
            output,
        },
        None => BuildError::Python { site, output },
    }
}

/// The `wsgi_site_config` module the bridge reads at build time (without `NATIVE`, which
/// [`native_table`] adds once the requirements are vendored: it follows from them).
fn site_config_module(site: &Site, app: &AppConfig) -> String {
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
    let mut module = format!(
        "# Generated by wsgi-wasm for this build; do not edit.\n\
         SITE = {}\nMODULE = {}\nCALLABLE = {}\nPRELOAD = {}\nENV = {}\nWARMUP = {}\n",
        py_str(&site.name),
        py_str(&app.module),
        py_str(&app.callable),
        list(&app.preload),
        dict(&app.env),
        list(&app.warmup),
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

/// `NATIVE`: each importable module the build removed → (its package, its file).
fn native_table(native: &[NativeFile]) -> String {
    let entries: Vec<String> = native
        .iter()
        .filter_map(|file| {
            let module = file.module.as_ref()?;
            Some(format!(
                "{}: ({}, {})",
                py_str(module),
                py_str(&file.package),
                py_str(&file.file)
            ))
        })
        .collect();
    format!("NATIVE = {{{}}}\n", entries.join(", "))
}

/// A Python string literal for any text (escapes everything outside printable ASCII).
fn py_str(text: &str) -> String {
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
