//! The guest toolchain: componentize-py at the pinned version, uv at its pinned version to
//! resolve and vendor requirements for the guest's Python, and the guest's standard library
//! exported to disk once, for run-time lazy imports.
//!
//! Provisioning order: a `componentize-py` on PATH that reports the pinned version is used
//! as it is; otherwise the pinned version is installed with pip into a virtualenv under the
//! state folder (pip's own progress shows on the terminal). uv is always the private,
//! pinned install (its own virtualenv beside it). A missing python3 or pip is an error that
//! says what to install.
//!
//! Why uv and not pip for requirements: pip evaluates environment markers for the Python it
//! runs on even with `--python-version` (pip 26 still does), so the machine's 3.11 drops
//! WebOb's `legacy-cgi; python_version >= "3.13"` and the guest meets `No module named
//! 'cgi'`. uv resolves for the version and platform it is given (`--python-version 3.14
//! --python-platform x86_64-manylinux_2_17`): every marker is the guest's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The componentize-py release every component is built with. Part of every build hash.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The uv release that resolves and installs every site's requirements. Part of every
/// build hash (another resolver may pick other versions).
pub const UV_VERSION: &str = "0.13.9";

/// A ready guest toolchain.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The `componentize-py` executable.
    pub componentize_py: PathBuf,
    /// A python3 that has pip (the interpreter uv installs with: `--target` only).
    pub python: PathBuf,
    /// The `uv` executable that resolves and installs requirements.
    pub uv: PathBuf,
    /// The guest standard library (`/python` in the guest), exported from componentize-py.
    pub stdlib: PathBuf,
}

/// Where the toolchain lives inside the state folder.
pub fn toolchain_dir(state_dir: &Path) -> PathBuf {
    state_dir
        .join("toolchain")
        .join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}"))
}

/// The exported standard library, when it is already there (a warm cache needs nothing else).
pub fn exported_stdlib(state_dir: &Path) -> Option<PathBuf> {
    let dir = toolchain_dir(state_dir).join("stdlib");
    dir.join(".complete").is_file().then_some(dir)
}

/// Finds or installs the toolchain; `wit_dir` is needed to export the standard library.
pub fn provision(state_dir: &Path, wit_dir: &Path) -> Result<Toolchain> {
    let home = toolchain_dir(state_dir);
    std::fs::create_dir_all(&home)
        .with_context(|| format!("cannot create `{}`", home.display()))?;
    // Servers sharing a state folder install the toolchain once, one at a time.
    let lock = std::fs::File::create(home.join(".lock"))
        .and_then(|file| file.lock().map(|()| file))
        .with_context(|| format!("cannot lock `{}`", home.display()))?;
    let venv = home.join("venv");
    let componentize_py = match on_path() {
        Some(found) => found,
        None => install(&venv)?,
    };
    let python = if venv.join("bin/python3").is_file() {
        venv.join("bin/python3")
    } else {
        find_python()?
    };
    let uv = install_pinned(&home.join(format!("uv-{UV_VERSION}")), "uv", UV_VERSION)?;
    let stdlib = match exported_stdlib(state_dir) {
        Some(dir) => dir,
        None => export_stdlib(&componentize_py, wit_dir, &home)?,
    };
    drop(lock);
    Ok(Toolchain {
        componentize_py,
        python,
        uv,
        stdlib,
    })
}

/// A child's stdout sent to our stderr: stdout carries only the server's `Serving` line.
fn stderr_stdio() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    }
}

/// `componentize-py` on PATH, if it is the pinned version.
fn on_path() -> Option<PathBuf> {
    let output = Command::new("componentize-py")
        .arg("--version")
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout);
    if version.split_whitespace().nth(1) == Some(COMPONENTIZE_PY_VERSION) {
        Some(PathBuf::from("componentize-py"))
    } else {
        tracing::info!(
            found = %version.trim(),
            "componentize-py on PATH is not version {COMPONENTIZE_PY_VERSION}; using a private install"
        );
        None
    }
}

fn find_python() -> Result<PathBuf> {
    for candidate in ["python3", "python"] {
        let ok = Command::new(candidate)
            .args(["-c", "import sys; assert sys.version_info >= (3, 9)"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!(
        "python3 (3.9 or newer) was not found on PATH; it is needed to install componentize-py \
         and to vendor site requirements. Install it (Debian/Ubuntu: `apt-get install python3 python3-venv python3-pip`)"
    )
}

/// Installs the pinned componentize-py into `venv`, showing pip's progress.
fn install(venv: &Path) -> Result<PathBuf> {
    install_pinned(venv, "componentize-py", COMPONENTIZE_PY_VERSION)
}

/// Installs `package==version` into the virtualenv `venv` (once), showing pip's progress;
/// returns its executable `bin/<package>`.
fn install_pinned(venv: &Path, package: &str, version: &str) -> Result<PathBuf> {
    let installed = venv.join("bin").join(package);
    if installed.is_file() {
        return Ok(installed);
    }
    let python = find_python()?;
    eprintln!(
        "Installing {package} {version} into `{}` (once)...",
        venv.display()
    );
    let status = Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(venv)
        .status()
        .with_context(|| format!("cannot run `{}`", python.display()))?;
    if !status.success() {
        bail!(
            "`{} -m venv` failed; install the venv module (Debian/Ubuntu: `apt-get install python3-venv`)",
            python.display()
        );
    }
    let pip = venv.join("bin/python3");
    let status = Command::new(&pip)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "on",
        ])
        .arg(format!("{package}=={version}"))
        .stdout(stderr_stdio())
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("cannot run `{}`", pip.display()))?;
    if !status.success() || !installed.is_file() {
        bail!(
            "pip could not install {package}=={version}; check that pip can reach the package \
             index (Debian/Ubuntu: `apt-get install python3-pip`)"
        );
    }
    Ok(installed)
}

/// The guest's standard library is embedded in componentize-py and mounted at `/python` only
/// while a build runs. A one-off build of a tiny module copies it out to `home/stdlib`, so the
/// server can mount it read-only at `/python` at run time and lazy standard-library imports
/// work in every site.
fn export_stdlib(componentize_py: &Path, wit_dir: &Path, home: &Path) -> Result<PathBuf> {
    let target = home.join("stdlib");
    let work = home.join("stdlib-export.tmp");
    let _ = std::fs::remove_dir_all(&work);
    let (code, out, empty_env) = (work.join("code"), work.join("out"), work.join("no-venv"));
    for dir in [&code, &out, &empty_env] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    std::fs::write(code.join("stdlib_export.py"), STDLIB_EXPORT)?;
    eprintln!("Exporting the guest standard library (once)...");
    let output = Command::new(componentize_py)
        .env("VIRTUAL_ENV", &empty_env)
        .arg("-d")
        .arg(wit_dir)
        .args(["-w", "wsgi", "componentize", "stdlib_export", "-p"])
        .arg(&code)
        .arg("-p")
        .arg(&out)
        .arg("-o")
        .arg(work.join("export.wasm"))
        .output()
        .with_context(|| format!("cannot run `{}`", componentize_py.display()))?;
    let exported = out.join("python");
    if !output.status.success() || !exported.join("os.py").is_file() {
        bail!(
            "exporting the guest standard library failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::write(exported.join(".complete"), COMPONENTIZE_PY_VERSION)?;
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&exported, &target)
        .with_context(|| format!("cannot move the standard library to `{}`", target.display()))?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(target)
}

/// Runs inside the guest at build time: `/python` is the standard library, `/1` is `out`.
const STDLIB_EXPORT: &str = r#"
import os, shutil
shutil.copytree("/python", "/1/python", ignore=shutil.ignore_patterns("*.pyc.*"))
import wit_world
class WitWorld(wit_world.WitWorld):
    def handle(self, environ):
        return None
"#;
