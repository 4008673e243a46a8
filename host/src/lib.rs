//! `wsgi-wasm`: many Python WSGI sites on one machine, each sandboxed in WebAssembly.
//!
//! The folders, in the order a request meets them (see `docs/architecture.md` for the
//! picture and where to add a feature):
//!
//! | folder | its job |
//! |---|---|
//! | [`cli`] | the commands: `serve` wires everything below together, `check`, `build`, `reload` |
//! | [`admin`] | the admin listener beside the request path: health, metrics, the status page, reloads |
//! | [`http`] | listeners, one connection, the front checks, forwarded addresses, request bodies, shutdown |
//! | [`sites`] | the sites served now: catalog, router (Host → site), bringing sites up, reload, watch |
//! | [`static_files`] | a site's static root and package aliases, nginx-grade |
//! | [`wsgi`] | the host side of `wit/`: bindings, store, instance pool, dispatch, environ, request I/O |
//! | [`build`] | site builds in child processes, cached by content hash |
//! | [`runtime`] | wasmtime without WSGI: engines, memory budget, lanes, data lock, the WASI shadows |
//! | [`telemetry`] | the request-end hook, access logs, metrics |
//! | [`response`] | the response body type and the fixed error pages every step answers with |
//! | [`config`] | wsgi-wasm.toml and site.toml, resolved into the validated types all the others use |
//!
//! Imports point down this table: a folder uses the folders below it, never one above it,
//! except through a trait the lower one defines (the WASI shadows in `runtime` are generic
//! over views of the store they define, `runtime::quota::QuotaView` and
//! `runtime::readdir::ListingsView`, which the WSGI store implements).
//! `tools/modgraph.py` checks it.

pub(crate) mod admin;
pub(crate) mod build;
pub mod cli;
pub(crate) mod config;
pub(crate) mod http;
pub(crate) mod response;
pub(crate) mod runtime;
pub(crate) mod sites;
pub(crate) mod static_files;
pub(crate) mod telemetry;
pub(crate) mod wsgi;
