//! Bringing sites up: a site folder's static root opened, its app's build found in the cache
//! (or built by a build process, `build::child`), loaded, and given an instance pool.
//!
//! The parts: a site that is up, or waits for its build (`site.rs`); bringing one site up
//! ([`Builder`], `builder.rs`); every site at start-up and for the `build` command
//! (`all.rs`); showing each site's steps (`steps.rs`).

mod all;
mod builder;
mod site;
mod steps;

pub use all::{build_all, prepare_all, save_held, Loaded};
pub use builder::Builder;
pub use site::{LiveSite, Pending, Prepared};
pub use steps::Steps;
