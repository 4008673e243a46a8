//! Configuration: the server's `wsgi-wasm.toml` and the `site.toml` of every site folder,
//! read before anything is served.
//!
//! Each file is parsed into raw serde structs that reject unknown keys, then resolved into
//! validated types that the rest of the server trusts. Every error names the file, the key
//! and the reason, quoting the user's value in backticks. The keys are documented with
//! examples in `docs/configuration.md`.

mod build;
mod limits;
mod log;
pub mod names;
mod parse;
mod server;
mod site;
pub mod site_dir;
mod static_root;

pub use build::BuildConfig;
pub use limits::{Isolation, Limits, Quota};
pub use log::{AccessTarget, LogConfig, LogFormat};
pub use names::Held;
pub use server::admin_address;
pub use server::{load_server, AdminToken, FrontConfig, ServerConfig, UnknownHost};
#[cfg(test)]
pub use site::load_sites;
pub use site::{read_sites, AppConfig, Site, SITE_FILE};
pub use site_dir::SiteDir;
pub use static_root::StaticDefaults;

/// What every site starts from, from the server config's `[defaults]`.
#[derive(Debug, Clone, Default)]
pub struct SiteDefaults {
    pub static_root: StaticDefaults,
    pub limits: Limits,
}

use std::path::PathBuf;

/// A configuration mistake, located precisely enough for an operator to fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: `{key}`: {reason}", file.display())]
pub struct ConfigError {
    /// The file that holds the mistake.
    pub file: PathBuf,
    /// The dotted key (`app.module`), or `-` when the file as a whole is wrong.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// The site the mistake is in: the folder holding the file (for a site.toml).
    pub fn site(&self) -> String {
        self.file
            .parent()
            .and_then(|dir| dir.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "-".to_owned())
    }

    pub fn new(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}
