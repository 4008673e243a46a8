//! `wsgi-wasm.toml`: the server's own settings and the defaults every site starts from.
//!
//! ```toml
//! listen = ["127.0.0.1:8080"]    # one or more addresses
//! sites = "sites"                # a folder per site; relative to this file
//! state = ".wsgi-wasm"           # build cache and toolchain; relative to this file
//! unknown_host = "close"         # "close" (nginx `return 444`) or a status such as 421
//! header_timeout = "10s"         # time to send a request head (from the accept for the
//!                                # first); also the HTTP/1 keep-alive idle time
//! idle_timeout = "60s"           # HTTP/2: time with no open stream before GOAWAY
//! max_connections = 10000        # open client connections; beyond it, accepting waits
//! max_connections_per_ip = 256   # open connections per client IP (IPv6: per /64); beyond
//!                                # it, new ones are closed at once
//! shutdown_timeout = "30s"       # on SIGTERM/SIGINT, how long requests in flight may finish
//! trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]  # peers whose X-Forwarded-For is believed
//! admin = "127.0.0.1:9180"       # the admin listener (metrics, status page); "off" for none
//! admin_hosts = ["admin.internal"]  # Host names the admin answers besides loopback ones
//! admin_token_file = "admin.token"  # bearer token for the admin routes but /healthz;
//!                                # relative to this file; required off loopback
//! [defaults.static]              # under every site's own [static] values
//! expires = "1h"
//! [defaults.limits]              # under every site's own [limits] values
//! memory = "128MiB"
//! [log]                          # access logs (`log.rs`)
//! access = "logs/access.log"
//! [build]                        # how site builds run (`build.rs`)
//! index_url = "https://pypi.org/simple"
//! [names]                        # who may serve which host names (`names.rs`)
//! default_site = "main"
//! bind = { "shop.example.com" = "shop", "*.shop.example.com" = "shop" }
//! ```
//!
//! The file is optional: `serve` reads `./wsgi-wasm.toml` when it exists, or the file given
//! with `--config`; command-line flags override what it says.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use super::build::{BuildConfig, RawBuild};
use super::error::ConfigError;
use super::limits::{Limits, RawLimits};
use super::log::{LogConfig, RawLog};
use super::names::{NameRules, RawNames};
use super::network::Network;
use super::parse::{duration, read_toml};
use super::site::SiteDefaults;
use super::static_root::{RawStatic, StaticDefaults};

/// The file `serve` looks for in the current folder when no `--config` is given.
pub const DEFAULT_FILE: &str = "wsgi-wasm.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Vec<String>>,
    sites: Option<String>,
    state: Option<String>,
    unknown_host: Option<toml::Value>,
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<u32>,
    max_connections_per_ip: Option<u32>,
    shutdown_timeout: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    admin: Option<String>,
    admin_hosts: Option<Vec<String>>,
    admin_token_file: Option<String>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    build: RawBuild,
    #[serde(default)]
    names: RawNames,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default, rename = "static")]
    static_root: RawStatic,
    #[serde(default)]
    limits: RawLimits,
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
    pub defaults: SiteDefaults,
    /// `admin`: the admin listener's address (`None`: `"off"`).
    pub admin: Option<SocketAddr>,
    /// `admin_hosts`: Host names (lower-cased, without port) the admin listener answers
    /// besides the loopback ones (`admin/mod.rs`).
    pub admin_hosts: Vec<String>,
    /// `admin_token_file`: the token every admin route but `/healthz` asks for, read once.
    pub admin_token: Option<AdminToken>,
    pub front: FrontConfig,
    /// `[log]`: the access logs.
    pub log: LogConfig,
    /// `[build]`: how site builds run.
    pub build: BuildConfig,
    /// `[names]`: which site may serve which host names.
    pub names: NameRules,
}

/// The front end's own limits, the same for every site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontConfig {
    /// Time a client has to send a request head (hyper's `header_read_timeout`); the same
    /// timer closes a kept-alive connection that sends no next request, and a new
    /// connection that has not shown which protocol it speaks (`http::conn`).
    pub header_timeout: Duration,
    /// HTTP/2: how long a connection may stay with no open stream before it gets a GOAWAY;
    /// also the interval of the server's PINGs (`http::conn`).
    pub idle_timeout: Duration,
    /// Client connections open at once; at the cap, the server stops accepting (new
    /// connections wait in the listen backlog) until one closes.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64); beyond it a new
    /// connection is closed at once. Peers in `trusted_proxies` are not counted.
    pub max_connections_per_ip: usize,
    /// On SIGTERM/SIGINT, how long open connections may finish their requests before they
    /// are cut (`shutdown.rs`).
    pub shutdown_timeout: Duration,
    /// Peers whose `X-Forwarded-For`/`X-Real-IP` set `REMOTE_ADDR`.
    pub trusted_proxies: Vec<Network>,
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            shutdown_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
        }
    }
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
    let front = front(&raw, &err)?;
    let log = LogConfig::resolve(&raw.log, &path, &base)?;
    let build = BuildConfig::resolve(&raw.build, &path)?;
    let names = NameRules::resolve(&raw.names, &path)?;

    let admin_hosts = admin_hosts(&raw, &err)?;
    let admin_token = match &raw.admin_token_file {
        Some(file) => Some(
            AdminToken::read(&base.join(file)).map_err(|reason| err("admin_token_file", reason))?,
        ),
        None => None,
    };

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
    let defaults = SiteDefaults {
        static_root: StaticDefaults::resolve(&raw.defaults.static_root, &path)?,
        limits: Limits::resolve(
            &raw.defaults.limits,
            &Limits::default(),
            &path,
            "defaults.limits",
        )?,
    };
    let admin = match &raw.admin {
        Some(value) => admin_address(value).map_err(|reason| err("admin", reason))?,
        None => Some(
            DEFAULT_ADMIN
                .parse()
                .expect("a valid default admin address"),
        ),
    };
    let server = ServerConfig {
        listen,
        sites: base.join(raw.sites.unwrap_or_else(|| "sites".into())),
        state: base.join(raw.state.unwrap_or_else(|| ".wsgi-wasm".into())),
        unknown_host,
        defaults,
        admin,
        admin_hosts,
        admin_token,
        front,
        log,
        build,
        names,
    };
    server
        .check_admin_exposure()
        .map_err(|reason| err("admin_token_file", reason))?;
    Ok(server)
}

impl ServerConfig {
    /// An admin listener off loopback must ask for a token: it can reload the server and
    /// shows the sites' errors.
    pub fn check_admin_exposure(&self) -> Result<(), String> {
        match self.admin {
            Some(address) if !address.ip().is_loopback() && self.admin_token.is_none() => {
                Err(format!(
                    "the admin listener `{address}` is not on loopback: set `admin_token_file` \
                     (a file holding the token its clients must send), or keep `admin` on \
                     127.0.0.1/[::1]"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The admin listener's bearer token (never shown by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// The content of `file`, trimmed; it may not be empty.
    pub fn read(file: &Path) -> Result<AdminToken, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|error| format!("cannot read `{}`: {error}", file.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("`{}` is empty", file.display()));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "`{}`: the token may hold only visible ASCII characters",
                file.display()
            ));
        }
        Ok(AdminToken(token.to_owned()))
    }

    /// The token, for a client to send or the admin listener to compare with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, in time independent of where they differ (both are
    /// hashed first, so not even the length shows).
    pub fn matches(&self, given: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        let (a, b) = (Sha256::digest(self.0.as_bytes()), Sha256::digest(given));
        a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

fn admin_hosts(
    raw: &RawServer,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    let mut hosts = Vec::new();
    for entry in raw.admin_hosts.iter().flatten() {
        match super::host_name::normalize_host(entry) {
            Some((host, None)) if !host.is_empty() => hosts.push(host),
            _ => {
                return Err(err(
                    "admin_hosts",
                    format!("`{entry}` is not a host name (without port)"),
                ))
            }
        }
    }
    Ok(hosts)
}

/// The admin listener's address when `admin` is not set: loopback, off the public port.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9180";

/// An `admin` value (the key or `--admin`): an address, or `off` for no admin listener.
pub fn admin_address(value: &str) -> Result<Option<SocketAddr>, String> {
    if value == "off" {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("`{value}` is not an address such as `127.0.0.1:9180`, nor \"off\""))
}

fn front(
    raw: &RawServer,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<FrontConfig, ConfigError> {
    let mut front = FrontConfig::default();
    if let Some(text) = &raw.header_timeout {
        front.header_timeout = duration(text).map_err(|reason| err("header_timeout", reason))?;
        if front.header_timeout.is_zero() {
            return Err(err(
                "header_timeout",
                format!("`{text}` must be longer than zero"),
            ));
        }
    }
    if let Some(text) = &raw.idle_timeout {
        front.idle_timeout = duration(text).map_err(|reason| err("idle_timeout", reason))?;
        if front.idle_timeout.is_zero() {
            return Err(err(
                "idle_timeout",
                format!("`{text}` must be longer than zero"),
            ));
        }
    }
    if let Some(text) = &raw.shutdown_timeout {
        front.shutdown_timeout =
            duration(text).map_err(|reason| err("shutdown_timeout", reason))?;
        if front.shutdown_timeout.is_zero() {
            return Err(err(
                "shutdown_timeout",
                format!("`{text}` must be longer than zero"),
            ));
        }
    }
    if let Some(count) = raw.max_connections {
        if count == 0 {
            return Err(err("max_connections", "`0`: give at least 1".into()));
        }
        front.max_connections = count as usize;
    }
    if let Some(count) = raw.max_connections_per_ip {
        if count == 0 {
            return Err(err("max_connections_per_ip", "`0`: give at least 1".into()));
        }
        front.max_connections_per_ip = count as usize;
    }
    for entry in raw.trusted_proxies.iter().flatten() {
        let network = entry
            .parse::<Network>()
            .map_err(|reason| err("trusted_proxies", reason))?;
        front.trusted_proxies.push(network);
    }
    Ok(front)
}
