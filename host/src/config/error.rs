//! [`ConfigError`]: every mistake in a config file, with its file, key and reason.

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
