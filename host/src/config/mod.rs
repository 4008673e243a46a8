//! Configuration: the server's `wsgi-wasm.toml` and the `site.toml` of every site folder,
//! read before anything is served.
//!
//! Each file is parsed into raw serde structs that reject unknown keys, then resolved into
//! validated types that the rest of the server trusts. Every error names the file, the key
//! and the reason, quoting the user's value in backticks. The keys are documented with
//! examples in `docs/configuration.md`.

mod parse;
mod server;
mod site;
mod static_root;

pub use server::{load_server, ServerConfig, UnknownHost};
pub use site::{load_sites, AppConfig, Site, SITE_FILE};

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
