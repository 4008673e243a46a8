//! `[log]` of `wsgi-wasm.toml`: where access log lines go and how they are written.
//!
//! ```toml
//! [log]
//! access = "logs/access.log"   # every request of every site; "-" = stdout; "off" (default)
//! format = "combined"          # or "json" (one JSON object per line)
//! sites = "logs/sites"         # a folder: one <site>.access.log per site (default: none)
//! ```
//!
//! Paths are relative to the config file's folder. Only the values are checked here (so
//! `check` reports them); the files are opened by `serve` (`access_log.rs`), which creates
//! missing folders and fails naming the key when a file cannot be opened.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    access: Option<String>,
    format: Option<String>,
    sites: Option<String>,
}

/// The validated `[log]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    /// The server's access log (every request), if any.
    pub access: Option<AccessTarget>,
    pub format: LogFormat,
    /// The folder of per-site access logs (`<site>.access.log`), if any.
    pub sites: Option<LogPath>,
    /// The config file the table came from, for errors found when the files are opened.
    pub file: PathBuf,
}

impl LogConfig {
    /// Whether any access log line is written at all.
    pub fn enabled(&self) -> bool {
        self.access.is_some() || self.sites.is_some()
    }
}

/// Where the server's access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    Stdout,
    File(LogPath),
}

/// A path as the user wrote it and as resolved against the config file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPath {
    pub written: String,
    pub path: PathBuf,
}

/// How each access log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// nginx's `combined` line plus `site=`, `request=`, `duration=` and `instance=`.
    #[default]
    Combined,
    /// One JSON object per line with the same fields as named keys.
    Json,
}

impl LogConfig {
    /// Checks `raw` from `file`; relative paths are resolved against `base`.
    pub fn resolve(raw: &RawLog, file: &Path, base: &Path) -> Result<LogConfig, ConfigError> {
        let err = |key: &str, reason: String| ConfigError::new(file, format!("log.{key}"), reason);
        let access = match raw.access.as_deref() {
            None | Some("off") => None,
            Some("-") => Some(AccessTarget::Stdout),
            Some(written) => {
                let path = log_path(written, base).map_err(|reason| err("access", reason))?;
                if path.path.is_dir() {
                    return Err(err(
                        "access",
                        format!(
                            "`{written}` is a folder: give a file, \"-\" for stdout or \"off\""
                        ),
                    ));
                }
                Some(AccessTarget::File(path))
            }
        };
        let format = match raw.format.as_deref() {
            None | Some("combined") => LogFormat::Combined,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "format",
                    format!("`{other}` is not a log format: expected \"combined\" or \"json\""),
                ))
            }
        };
        let sites = match raw.sites.as_deref() {
            None | Some("off") => None,
            Some(written) => {
                let path = log_path(written, base).map_err(|reason| err("sites", reason))?;
                if path.path.exists() && !path.path.is_dir() {
                    return Err(err(
                        "sites",
                        format!(
                            "`{written}` is not a folder: give the folder for the per-site logs"
                        ),
                    ));
                }
                Some(path)
            }
        };
        Ok(LogConfig {
            access,
            format,
            sites,
            file: file.to_path_buf(),
        })
    }
}

fn log_path(written: &str, base: &Path) -> Result<LogPath, String> {
    if written.trim().is_empty() {
        return Err(format!(
            "`{written}` is empty: give a path, \"-\" for stdout or \"off\""
        ));
    }
    if written.contains('\0') {
        return Err(format!("`{}` holds a NUL byte", written.escape_debug()));
    }
    Ok(LogPath {
        written: written.to_owned(),
        path: base.join(written),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(access: Option<&str>, format: Option<&str>, sites: Option<&str>) -> RawLog {
        RawLog {
            access: access.map(str::to_owned),
            format: format.map(str::to_owned),
            sites: sites.map(str::to_owned),
        }
    }

    fn resolve(raw: &RawLog) -> Result<LogConfig, ConfigError> {
        LogConfig::resolve(raw, Path::new("/etc/w/wsgi-wasm.toml"), Path::new("/etc/w"))
    }

    #[test]
    fn log_config_defaults_to_off() {
        let config = resolve(&raw(None, None, None)).unwrap();
        assert_eq!(config.access, None);
        assert_eq!(config.sites, None);
        assert_eq!(config.format, LogFormat::Combined);
        assert!(!config.enabled());
        assert!(!resolve(&raw(Some("off"), None, Some("off")))
            .unwrap()
            .enabled());
    }

    #[test]
    fn log_config_resolves_paths_against_the_config_folder() {
        let config = resolve(&raw(
            Some("logs/access.log"),
            Some("json"),
            Some("logs/sites"),
        ))
        .unwrap();
        assert_eq!(
            config.access,
            Some(AccessTarget::File(LogPath {
                written: "logs/access.log".into(),
                path: "/etc/w/logs/access.log".into()
            }))
        );
        assert_eq!(config.sites.unwrap().path, Path::new("/etc/w/logs/sites"));
        assert_eq!(config.format, LogFormat::Json);
        let stdout = resolve(&raw(Some("-"), None, None)).unwrap();
        assert_eq!(stdout.access, Some(AccessTarget::Stdout));
    }

    #[test]
    fn log_config_errors_name_key_and_value() {
        let error = resolve(&raw(None, Some("xml"), None)).unwrap_err();
        assert_eq!(error.key, "log.format");
        assert!(error.reason.contains("`xml`"), "{error}");
        let error = resolve(&raw(Some(""), None, None)).unwrap_err();
        assert_eq!(error.key, "log.access");
        let error = resolve(&raw(None, None, Some(" "))).unwrap_err();
        assert_eq!(error.key, "log.sites");
    }
}
