//! Configuration: the server's `wsgi-wasm.toml` and the `site.toml` of every site folder,
//! read before anything is served.
//!
//! Each file is parsed into raw serde structs that reject unknown keys, then resolved into
//! validated types that the rest of the server trusts. Every error names the file, the key
//! and the reason, quoting the user's value in backticks. The keys are documented with
//! examples in `docs/configuration.md`.

mod app;
mod build;
mod error;
pub mod host_name;
mod limits;
mod log;
pub mod names;
mod network;
mod parse;
mod server;
mod site;
pub mod site_dir;
mod sites;
mod static_root;

pub use app::{AppConfig, DataLock};
pub use build::BuildConfig;
pub use error::ConfigError;
pub use limits::{Isolation, Limits, Quota};
pub use log::{AccessTarget, LogConfig, LogFormat};
pub use names::Held;
pub use network::Network;
pub use server::admin_address;
pub use server::{load_server, AdminToken, FrontConfig, ServerConfig, UnknownHost};
pub use site::{Site, SITE_FILE};
pub use site_dir::SiteDir;
#[cfg(test)]
pub use sites::load_sites;
pub use sites::read_sites;
pub use static_root::StaticOptions;
