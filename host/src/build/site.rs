//! One site build, run in a build process of its own (`child.rs` starts it, `worker.rs` is
//! its entry point): from the site folder's handle and a [`Plan`] to a finished build folder
//! `<state>/sites/<name>/<hash>/` with its component compiled.
//!
//! Steps, in order, each reported to the server as it begins:
//! 1. **stage** the site's python path through the site folder's handle (`tree.rs`: sizes
//!    counted before reading, nothing outside the site), hashing exactly what is copied: the
//!    hash names the build folder, so what is cached is what was built;
//! 2. when that build is already there, only compile it; else
//! 3. **vendor** the requirements (`vendor.rs`: parsed as data, wheels from the server's
//!    index only; native extension files removed and named, see `native.rs`);
//! 4. **componentize**: componentize-py imports the bridge at guest path `/0` (the bridge
//!    and the generated `wsgi_site_config`), which loads the app from `/1`… and runs the
//!    site's `warmup` URLs, and snapshots the interpreter;
//! 5. move the finished folder into place atomically, and **compile** it to native code for
//!    the server's engine (`component-<engine>.cwasm`), so the server only maps it.
//!
//! The staged folders stay: the server mounts them read-only at the same guest paths, so
//! modules first imported at request time load, and `[static.from_packages]` folders are
//! served from them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use super::artifact::{lock_site, site_builds};
use super::error::BuildError;
use super::native::NativeFile;
use super::plan::{self, py_str, Plan};
use super::process::dies_with_server;
use super::toolchain::{self, Toolchain};
use super::tree::{self, Tally};
use super::vendor::{clean_environment, vendor};
use crate::config::SiteDir;

/// A finished build.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Built {
    /// The content hash of what was built (the build folder's name).
    pub hash: String,
    /// The guest standard library, exported once per toolchain.
    pub stdlib: PathBuf,
}

/// Builds the plan's site from `root`, its folder; `progress` is told each step.
pub fn build(
    plan: &Plan,
    root: &SiteDir,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let _lock = lock_site(&plan.state, &plan.site)?;
    let builds = site_builds(&plan.state, &plan.site);
    let work = builds.join(format!("staging.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let py = work.join("py");
    progress("staging the site's files");
    let (hash, requirements) = stage(plan, root, &py)?;
    let dir = builds.join(&hash);
    let tools = |progress: &mut dyn FnMut(&str)| -> Result<Toolchain, BuildError> {
        progress("preparing the guest toolchain");
        Ok(toolchain::provision(&plan.state, &plan.sources.wit)?)
    };
    let stdlib = match toolchain::exported_stdlib(&plan.state) {
        Some(stdlib) if dir.join("component.wasm").is_file() => stdlib,
        _ => {
            let toolchain = tools(progress)?;
            if !dir.join("component.wasm").is_file() {
                componentize(plan, &work, &toolchain, requirements.as_deref(), progress)?;
                if std::fs::rename(&work, &dir).is_err() {
                    return Err(BuildError::Other(anyhow::anyhow!(
                        "cannot move the build into `{}`",
                        dir.display()
                    )));
                }
            }
            toolchain.stdlib
        }
    };
    let _ = std::fs::remove_dir_all(&work);
    progress("compiling the component");
    let started = Instant::now();
    crate::runtime::engine::compile(plan.fresh_instances, &dir)?;
    tracing::debug!(site = %plan.site, seconds = started.elapsed().as_secs_f64(), "compiled");
    Ok(Built { hash, stdlib })
}

/// Copies the plan's python path into `py/1`, `py/2`, … and reads its requirements, hashing
/// both: the hash of what was staged, and the requirements' text.
fn stage(plan: &Plan, root: &SiteDir, py: &Path) -> Result<(String, Option<String>), BuildError> {
    let mut hash = plan.hasher();
    let mut tally = Tally::default();
    for (index, folder) in plan.python_path.iter().enumerate() {
        let files = tree::list(root, folder, &plan.not_built, &plan.limits.tree, &mut tally)?;
        plan::hash_tree(&mut hash, index, &files);
        let staged = py.join((index + 1).to_string());
        std::fs::create_dir_all(&staged)
            .with_context(|| format!("cannot create `{}`", staged.display()))?;
        for file in &files {
            let target = staged.join(&file.relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            let mut out = std::fs::File::create(&target)
                .with_context(|| format!("cannot create `{}`", target.display()))?;
            hash.begin(&file.relative, file.size);
            tree::read(root, folder, file, |bytes| {
                hash.update(bytes);
                out.write_all(bytes)
                    .with_context(|| format!("cannot write `{}`", target.display()))
            })?;
        }
    }
    let requirements = match &plan.requirements {
        Some(_) => {
            let text =
                plan.read_requirements(root)
                    .map_err(|error| BuildError::RefusedRequirements {
                        site: plan.site.clone(),
                        errors: format!("{error:#}"),
                    })?;
            hash.bytes("requirements", text.as_bytes());
            Some(text)
        }
        None => None,
    };
    Ok((hash.finish(), requirements))
}

/// Steps 3 and 4 in the work folder `work` (whose `py/1`… are staged).
fn componentize(
    plan: &Plan,
    work: &Path,
    toolchain: &Toolchain,
    requirements: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let py = work.join("py");
    let bridge_dir = py.join("0");
    copy_dir(
        &plan.sources.bridge.join("wsgi_bridge"),
        &bridge_dir.join("wsgi_bridge"),
    )?;
    let mut python_dirs = vec![bridge_dir.clone()];
    for index in 0..plan.python_path.len() {
        python_dirs.push(py.join((index + 1).to_string()));
    }
    let mut native = Vec::new();
    if let Some(text) = requirements {
        progress("vendoring the requirements (pip)");
        let staged = py.join(python_dirs.len().to_string());
        native = vendor(plan, text, &staged, toolchain)?;
        python_dirs.push(staged);
    }
    let config = plan.config_module.clone() + &native_table(&native);
    std::fs::write(bridge_dir.join("wsgi_site_config.py"), config)
        .context("cannot write the site config module")?;

    progress("building the component (componentize-py)");
    let no_venv = work.join("no-venv");
    std::fs::create_dir_all(&no_venv).context("cannot create the build folder")?;
    let component = work.join("component.wasm");
    let mut command = Command::new(&toolchain.componentize_py);
    dies_with_server(&mut command);
    clean_environment(&mut command, work);
    command
        .env("VIRTUAL_ENV", &no_venv)
        .arg("-d")
        .arg(&plan.sources.wit)
        .args(["-w", "wsgi", "componentize", "wsgi_bridge"]);
    for dir in &python_dirs {
        command.arg("-p").arg(dir);
    }
    let output = command
        .arg("-o")
        .arg(&component)
        .output()
        .with_context(|| format!("cannot run `{}`", toolchain.componentize_py.display()))?;
    let _ = std::fs::remove_dir_all(&no_venv);
    if !output.status.success() || !component.is_file() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        if !native.is_empty() {
            text.push_str("\nThese native extension files have no WASI build and were left out:\n");
            for file in &native {
                text.push_str(&format!("  {} (package `{}`)\n", file.file, file.package));
            }
        }
        return Err(classify(&plan.site, text.trim_end().to_owned()));
    }
    Ok(())
}

/// Copies the server's own folder `from` (the bridge) to `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create `{}`", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(tree::is_build_input) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)
                .with_context(|| format!("cannot copy `{}`", source.display()))?;
        }
    }
    Ok(())
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
        // sqlite's answer when the module opens a database in a data folder at import.
        None if output.contains("sqlite3.OperationalError: unable to open database file") => {
            BuildError::DataAtBuild { site, output }
        }
        None => BuildError::Python { site, output },
    }
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
