//! The `[static]` table: shared by `site.toml` and the server's `[defaults.static]`, where a
//! site's own value wins over the default, and the default over the built-in one.
//!
//! ```toml
//! [static]
//! root = "public"            # folder inside the site folder; served before the app
//! index = ["index.html"]     # files tried for a directory request
//! allow_ranges = true        # wsgi_allow_ranges: answer Range requests
//! disable_symlinks = false   # refuse symlinks inside the root too
//! expires = "1h"             # Cache-Control max-age and Expires; off when absent
//! precompressed = true       # serve .br / .gz siblings to clients that accept them
//! ```

use std::path::Path;

use serde::Deserialize;

use super::parse::{duration, inside};
use super::ConfigError;
use crate::static_files::StaticOptions;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatic {
    pub root: Option<String>,
    pub index: Option<Vec<String>>,
    pub allow_ranges: Option<bool>,
    pub disable_symlinks: Option<bool>,
    pub expires: Option<String>,
    pub precompressed: Option<bool>,
}

/// Validated defaults, applied under every site's own `[static]` values.
#[derive(Debug, Clone, Default)]
pub struct StaticDefaults(pub StaticOptions);

impl StaticDefaults {
    /// `[defaults.static]` of the server config: every key but `root`.
    pub fn resolve(raw: &RawStatic, file: &Path) -> Result<Self, ConfigError> {
        if let Some(root) = &raw.root {
            return Err(ConfigError::new(
                file,
                "defaults.static.root",
                format!("`{root}`: each site names its own root in its site.toml"),
            ));
        }
        let mut options = StaticOptions::default();
        apply(&mut options, raw, file, "defaults.static")?;
        Ok(Self(options))
    }
}

/// A site's resolved static root: the folder and its options.
#[derive(Debug, Clone)]
pub struct StaticConfig {
    pub root: std::path::PathBuf,
    pub options: StaticOptions,
}

pub fn resolve(
    raw: &RawStatic,
    defaults: &StaticDefaults,
    dir: &Path,
    file: &Path,
) -> Result<StaticConfig, ConfigError> {
    let root_entry = raw.root.as_deref().ok_or_else(|| {
        ConfigError::new(
            file,
            "static.root",
            "missing: the folder to serve, such as `public`",
        )
    })?;
    let root =
        inside(dir, root_entry).map_err(|reason| ConfigError::new(file, "static.root", reason))?;
    if !root.is_dir() {
        return Err(ConfigError::new(
            file,
            "static.root",
            format!("`{root_entry}` is not a folder in the site"),
        ));
    }
    let mut options = defaults.0.clone();
    apply(&mut options, raw, file, "static")?;
    Ok(StaticConfig { root, options })
}

fn apply(
    options: &mut StaticOptions,
    raw: &RawStatic,
    file: &Path,
    table: &str,
) -> Result<(), ConfigError> {
    if let Some(index) = &raw.index {
        for name in index {
            let plain = !name.is_empty()
                && !name.contains(['/', '\\', '\0'])
                && name != "."
                && name != "..";
            if !plain {
                return Err(ConfigError::new(
                    file,
                    format!("{table}.index"),
                    format!("`{name}` is not a file name"),
                ));
            }
        }
        options.index = index.clone();
    }
    if let Some(value) = raw.allow_ranges {
        options.allow_ranges = value;
    }
    if let Some(value) = raw.disable_symlinks {
        options.disable_symlinks = value;
    }
    if let Some(value) = &raw.expires {
        let parsed = duration(value)
            .map_err(|reason| ConfigError::new(file, format!("{table}.expires"), reason))?;
        options.expires = Some(parsed);
    }
    if let Some(value) = raw.precompressed {
        options.precompressed = value;
    }
    Ok(())
}
