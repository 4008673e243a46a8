//! The `[build]` table of `wsgi-wasm.toml`: how site builds run. Only the operator sets it; a
//! tenant's `site.toml` cannot, so nothing here is under a tenant's control.
//!
//! ```toml
//! [build]
//! index_url = "https://pypi.org/simple"  # the only package index requirements come from
//! jobs = 2                      # builds at once (default: the number of CPU cores)
//! timeout = "10m"               # wall-clock time of one build; then it is killed
//! memory_margin = "1GiB"        # a build's memory: the site's `memory` plus this
//! max_site_size = "256MiB"      # the site's own files a build reads (apparent size)
//! max_site_files = 50000        # and their number
//! max_packages_size = "1GiB"    # the vendored requirements, once installed
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::parse::duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    pub index_url: Option<String>,
    pub jobs: Option<u32>,
    pub timeout: Option<String>,
    pub memory_margin: Option<String>,
    pub max_site_size: Option<String>,
    pub max_site_files: Option<u64>,
    pub max_packages_size: Option<String>,
}

/// The validated `[build]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// The package index every site's requirements are resolved from (pip's `--index-url`).
    pub index_url: String,
    /// Builds running at once, each in a process of its own.
    pub jobs: usize,
    /// Wall-clock time of one build, toolchain set-up included.
    pub timeout: Duration,
    /// What a build process may allocate beyond the site's `memory` (componentize-py, pip,
    /// the compiler).
    pub memory_margin: u64,
    /// Total apparent size of the site's own files a build reads.
    pub max_site_size: u64,
    /// Number of the site's own files a build reads.
    pub max_site_files: u64,
    /// Total apparent size of the vendored requirements.
    pub max_packages_size: u64,
}

/// The index requirements come from when `index_url` is not set.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

const MIB: u64 = 1024 * 1024;

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            index_url: DEFAULT_INDEX.to_owned(),
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            timeout: Duration::from_secs(600),
            memory_margin: 1024 * MIB,
            max_site_size: 256 * MIB,
            max_site_files: 50_000,
            max_packages_size: 1024 * MIB,
        }
    }
}

impl BuildConfig {
    pub fn resolve(raw: &RawBuild, file: &Path) -> Result<BuildConfig, ConfigError> {
        let err =
            |key: &str, reason: String| ConfigError::new(file, format!("build.{key}"), reason);
        let size = |key: &str, value: &Option<String>, current: u64, min: u64| {
            let Some(text) = value else {
                return Ok(current);
            };
            let parsed: bytesize::ByteSize = text.trim().parse().map_err(|_| {
                err(
                    key,
                    format!("`{text}` is not a size such as `256MiB` or `1GiB`"),
                )
            })?;
            if parsed.as_u64() < min {
                return Err(err(
                    key,
                    format!(
                        "`{text}` is below the minimum of {}",
                        bytesize::ByteSize(min)
                    ),
                ));
            }
            Ok(parsed.as_u64())
        };
        let defaults = BuildConfig::default();
        let mut build = BuildConfig {
            memory_margin: size(
                "memory_margin",
                &raw.memory_margin,
                defaults.memory_margin,
                64 * MIB,
            )?,
            max_site_size: size(
                "max_site_size",
                &raw.max_site_size,
                defaults.max_site_size,
                1,
            )?,
            max_packages_size: size(
                "max_packages_size",
                &raw.max_packages_size,
                defaults.max_packages_size,
                1,
            )?,
            ..defaults
        };
        if let Some(url) = &raw.index_url {
            let lower = url.to_ascii_lowercase();
            let plain = url.bytes().all(|b| b.is_ascii_graphic());
            if !(lower.starts_with("https://") || lower.starts_with("http://")) || !plain {
                return Err(err(
                    "index_url",
                    format!("`{url}` is not an http(s) URL such as `https://pypi.org/simple`"),
                ));
            }
            build.index_url = url.clone();
        }
        if let Some(jobs) = raw.jobs {
            if jobs == 0 {
                return Err(err("jobs", "`0`: give at least 1".into()));
            }
            build.jobs = jobs as usize;
        }
        if let Some(text) = &raw.timeout {
            build.timeout = duration(text).map_err(|reason| err("timeout", reason))?;
            if build.timeout.is_zero() {
                return Err(err("timeout", format!("`{text}` must be longer than zero")));
            }
        }
        if let Some(files) = raw.max_site_files {
            if files == 0 {
                return Err(err("max_site_files", "`0`: give at least 1".into()));
            }
            build.max_site_files = files;
        }
        Ok(build)
    }
}
