//! The integration tests, in one binary: each module is the tests of one subject, against
//! the real `wsgi-wasm` binary on 127.0.0.1:0 with real HTTP and real components (the
//! harness is `common/`). One binary rather than one per file: the harness and the test
//! crate are compiled and linked once, and the long tests of one subject (a Django build, a
//! reload under load) run beside the short ones of another instead of after them.
//!
//! Run one subject with `cargo test --test integration <module>::`, for example
//! `cargo test --test integration config::`.

mod common;

mod access_log;
mod admin;
mod bottle;
mod bridge_python;
mod build_errors;
mod config;
mod crypto;
mod data;
mod django;
mod falcon;
mod faults;
mod flask;
mod hardening;
mod hostile_build;
mod hostile_limits;
mod hostile_names;
mod hostile_paths;
mod limits;
mod logging;
mod mount;
mod pep3333;
mod quota;
mod reload;
mod routing;
mod shutdown;
mod static_packages;
mod static_root;
mod stdlib;
mod warmup;
mod wsgi;
