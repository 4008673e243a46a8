//! The one wasmtime `Engine` of the process, its epoch ticker, and compiled components.
//!
//! Guests run on wasmtime's async support with epoch interruption: every store yields back
//! to tokio at each epoch tick, so a guest in a busy loop never holds a worker thread from
//! other connections. Components are compiled once per build and engine configuration and
//! cached beside the build (`component-<engine>.cwasm`); nothing compiles on the request path.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::Component;
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine};

/// How often the epoch advances: the longest a guest runs before yielding to tokio.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Makes the engine and starts the thread that advances its epoch.
pub fn create_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    let engine = Engine::new(&config).context("cannot create the wasmtime engine")?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match ticker.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(engine)
}

/// Loads the build's component compiled for `engine`, compiling and caching it first when
/// this engine configuration has not compiled it before.
pub fn load_component(engine: &Engine, build_dir: &Path, component: &Path) -> Result<Component> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let compiled = build_dir.join(format!("component-{:016x}.cwasm", hasher.finish()));
    if !compiled.is_file() {
        let wasm = std::fs::read(component)
            .with_context(|| format!("cannot read `{}`", component.display()))?;
        let bytes = engine
            .precompile_component(&wasm)
            .with_context(|| format!("cannot compile `{}`", component.display()))?;
        let partial = compiled.with_extension(format!("cwasm.tmp-{}", std::process::id()));
        std::fs::write(&partial, bytes)
            .with_context(|| format!("cannot write `{}`", partial.display()))?;
        std::fs::rename(&partial, &compiled)
            .with_context(|| format!("cannot write `{}`", compiled.display()))?;
    }
    // SAFETY: the file was written by `precompile_component` above (now or in an earlier run)
    // into the server's own state folder, which tenants cannot write to.
    unsafe { Component::deserialize_file(engine, &compiled) }
        .with_context(|| format!("cannot load `{}`", compiled.display()))
        .map_err(anyhow::Error::from)
}
