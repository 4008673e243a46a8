//! `wsgi-wasm.toml`: the server's own settings and the defaults every site starts from.
//!
//! ```toml
//! listen = ["127.0.0.1:8080"]    # one or more addresses
//! sites = "sites"                # a folder per site; relative to this file
//! state = ".wsgi-wasm"           # build cache and toolchain; relative to this file
//! unknown_host = "close"         # "close" (nginx `return 444`) or a status such as 421
//! [defaults.static]              # under every site's own [static] values
//! expires = "1h"
//! ```
//!
//! The file is optional: `serve` reads `./wsgi-wasm.toml` when it exists, or the file given
//! with `--config`; command-line flags override what it says.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use http::StatusCode;
use serde::Deserialize;

use super::parse::read_toml;
use super::static_root::{RawStatic, StaticDefaults};
use super::ConfigError;

/// The file `serve` looks for in the current folder when no `--config` is given.
pub const DEFAULT_FILE: &str = "wsgi-wasm.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Vec<String>>,
    sites: Option<String>,
    state: Option<String>,
    unknown_host: Option<toml::Value>,
    #[serde(default)]
    defaults: RawDefaults,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default, rename = "static")]
    static_root: RawStatic,
}

/// What happens to a request whose host no site claims, when there is no default site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownHost {
    /// Close the connection without a response (nginx's `return 444`).
    Close,
    /// Answer with this status and a short fixed page.
    Status(StatusCode),
}

/// The validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Vec<SocketAddr>,
    pub sites: PathBuf,
    pub state: PathBuf,
    pub unknown_host: UnknownHost,
    pub static_defaults: StaticDefaults,
}

/// Reads the server config: `explicit` when given (it must exist), else `./wsgi-wasm.toml`
/// when present, else the built-in defaults.
pub fn load_server(explicit: Option<&Path>) -> Result<ServerConfig, ConfigError> {
    let file = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
    };
    let raw: RawServer = match &file {
        Some(path) => read_toml(path)?,
        None => RawServer::default(),
    };
    let path = file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let err = |key: &str, reason: String| ConfigError::new(&path, key, reason);

    let mut listen = Vec::new();
    for address in raw.listen.unwrap_or_else(|| vec!["127.0.0.1:8080".into()]) {
        let parsed = address.parse().map_err(|_| {
            err(
                "listen",
                format!("`{address}` is not an address such as `127.0.0.1:8080`"),
            )
        })?;
        listen.push(parsed);
    }
    if listen.is_empty() {
        return Err(err("listen", "give at least one address".into()));
    }
    let unknown_host = match raw.unknown_host {
        None => UnknownHost::Close,
        Some(toml::Value::String(word)) if word == "close" => UnknownHost::Close,
        Some(toml::Value::Integer(code)) => {
            match u16::try_from(code)
                .ok()
                .filter(|c| (400..=599).contains(c))
                .and_then(|c| StatusCode::from_u16(c).ok())
            {
                Some(status) => UnknownHost::Status(status),
                None => {
                    return Err(err(
                        "unknown_host",
                        format!("`{code}` is not a status from 400 to 599"),
                    ))
                }
            }
        }
        Some(other) => {
            return Err(err(
                "unknown_host",
                format!("`{other}`: expected \"close\" or a status such as 421"),
            ))
        }
    };
    let static_defaults = StaticDefaults::resolve(&raw.defaults.static_root, &path)?;
    Ok(ServerConfig {
        listen,
        sites: base.join(raw.sites.unwrap_or_else(|| "sites".into())),
        state: base.join(raw.state.unwrap_or_else(|| ".wsgi-wasm".into())),
        unknown_host,
        static_defaults,
    })
}
