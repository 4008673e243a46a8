//! Vendoring a site's requirements with uv (`uv pip install --target`), inside the build
//! process (`site.rs`), resolved for the guest's CPython 3.14 on Linux (`toolchain.rs` says
//! why not pip).
//!
//! The tenant's file is parsed as data first (`requirements.rs`); uv then gets a file the
//! build wrote itself from what was parsed, the server's index only (`build.index_url`),
//! wheels only (`--no-build`: no package's build backend ever runs), no
//! configuration of its own (`--no-config`: no `uv.toml`, and no `UV_*` variables in its
//! clean environment, `clean_environment`) and a cache of the site's own
//! (`<state>/cache/pip/<site>`), so no site reads or writes what was cached for another.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::error::BuildError;
use super::native::{self, NativeFile};
use super::plan::Plan;
use super::process::dies_with_server;
use super::toolchain::Toolchain;
use super::tree::{self, Tally, TreeLimits};
use crate::config::SiteDir;

/// Installs the plan's requirements for the guest's CPython 3.14 into `target`. Returns
/// the native extension files that were removed (they cannot load under WASI; packages
/// such as MarkupSafe fall back to pure Python without them).
pub fn vendor(
    plan: &Plan,
    text: &str,
    target: &Path,
    toolchain: &Toolchain,
) -> Result<Vec<NativeFile>, BuildError> {
    let shown = plan
        .requirements
        .as_ref()
        .map(|path| plan.site_path.join(path).display().to_string())
        .unwrap_or_default();
    let parsed = super::requirements::parse(text, &shown).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        BuildError::RefusedRequirements {
            site: plan.site.clone(),
            errors: lines.join("\n"),
        }
    })?;
    let work = target.parent().unwrap_or(target).join("pip");
    let home = work.join("home");
    std::fs::create_dir_all(&home).context("cannot create the build folder")?;
    let file = work.join("requirements.txt");
    std::fs::write(&file, super::requirements::render(&parsed))
        .context("cannot write the requirements for pip")?;
    let cache = plan.state.join("cache").join("pip").join(&plan.site);
    let mut command = Command::new(&toolchain.uv);
    dies_with_server(&mut command);
    clean_environment(&mut command, &home);
    let output = command
        .current_dir(&work)
        .args(["pip", "install", "--no-config", "--quiet", "--no-progress"])
        // Resolved for the guest: every environment marker and `Requires-Python` is
        // CPython 3.14's on Linux, whatever the machine's Python is.
        .args([
            "--python-version",
            GUEST_PYTHON,
            "--python-platform",
            "x86_64-manylinux_2_17",
            "--no-build",
            "--no-python-downloads",
        ])
        .arg("--python")
        .arg(&toolchain.python)
        .arg("--index-url")
        .arg(&plan.index_url)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("--target")
        .arg(target)
        .arg("-r")
        .arg(&file)
        .output()
        .with_context(|| format!("cannot run `{} pip`", toolchain.uv.display()))?;
    let _ = std::fs::remove_dir_all(&work);
    if !output.status.success() {
        let output = String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned();
        return Err(match without_wheel(&output) {
            Some(package) => BuildError::NoWheel {
                site: plan.site.clone(),
                requirements: shown,
                package,
                output,
            },
            None => BuildError::Requirements {
                site: plan.site.clone(),
                requirements: shown,
                output,
            },
        });
    }
    let _ = std::fs::remove_dir_all(target.join("bin"));
    check_size(plan, target)?;
    Ok(native::strip(target)?)
}

/// The guest's Python version, for resolving.
const GUEST_PYTHON: &str = "3.14";

/// The package uv could not find a wheel for, from its report: `Because foo==1.0 has no
/// usable wheels and building from source is disabled`, or `has no wheels with a matching
/// Python ABI tag` / `platform tag`.
fn without_wheel(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let (before, _) = line
            .split_once(" has no usable wheels")
            .or_else(|| line.split_once(" has no wheels with a matching"))?;
        let words = before.split_whitespace().collect::<Vec<_>>();
        // `… Because foo==1.0 has …`, `… and foo>=2 has …`: the word before, its name part.
        let spec = words.last()?;
        let name: String = spec
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        (!name.is_empty()).then_some(name)
    })
}

/// Refuses vendored packages larger than `build.max_packages_size`.
fn check_size(plan: &Plan, target: &Path) -> Result<(), BuildError> {
    let dir = cap_std::fs::Dir::open_ambient_dir(target, cap_std::ambient_authority())
        .context("cannot open the vendored packages")?;
    let packages = SiteDir::from_dir(dir, target).context("cannot open the vendored packages")?;
    let limits = TreeLimits {
        max_bytes: plan.limits.max_packages,
        max_files: u64::MAX,
    };
    let mut tally = Tally::default();
    tree::list(&packages, Path::new(""), &[], &limits, &mut tally).map_err(|_| {
        BuildError::RefusedRequirements {
            site: plan.site.clone(),
            errors: format!(
                "the vendored packages are larger than `build.max_packages_size` = {}",
                bytesize::ByteSize(plan.limits.max_packages)
            ),
        }
    })?;
    Ok(())
}

/// Variables of the server's environment a build tool may see: where programs are, and how
/// the operator reaches the package index (proxies, CA certificates). Nothing else of the
/// server's environment reaches a build.
const PASSED_ENVIRONMENT: &[&str] = &[
    "PATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
];

/// The whole environment of a build tool: [`PASSED_ENVIRONMENT`] from the server's, `home`
/// as its `HOME`, and a plain locale.
pub fn clean_env(home: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = PASSED_ENVIRONMENT
        .iter()
        .filter_map(|name| Some((OsString::from(name), std::env::var_os(name)?)))
        .collect();
    for (name, value) in [
        ("LANG", "C.UTF-8"),
        ("PYTHONNOUSERSITE", "1"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ] {
        env.push((name.into(), value.into()));
    }
    env.push(("HOME".into(), home.as_os_str().to_owned()));
    env
}

/// Clears `command`'s environment but for [`clean_env`].
pub fn clean_environment(command: &mut Command, home: &Path) {
    command.env_clear().envs(clean_env(home));
}

#[cfg(test)]
mod tests {
    use super::without_wheel;

    #[test]
    fn vendor_names_the_package_without_a_wheel() {
        let report = "error: No solution found when resolving dependencies\n  cause: Because \
                      uwsgi==2.0.28 has no usable wheels and you require uwsgi==2.0.28, we \
                      can conclude that your requirements are unsatisfiable.";
        assert_eq!(without_wheel(report).as_deref(), Some("uwsgi"));
        let platform = "  cause: Because only pydantic-core<=2.0 is available and \
                        pydantic-core==2.0 has no wheels with a matching platform tag";
        assert_eq!(without_wheel(platform).as_deref(), Some("pydantic-core"));
        let missing = "  cause: Because nope was not found in the package registry";
        assert_eq!(without_wheel(missing), None);
    }
}
