//! The wasmtime engines of the process, their epoch ticker, and compiled components.
//!
//! Guests run on wasmtime's async support with epoch interruption: every store yields back
//! to tokio at each epoch tick, so a guest in a busy loop never holds a worker thread from
//! other connections. Components are compiled once per build and engine configuration and
//! cached beside the build (`component-<engine>.cwasm`); nothing compiles on the request path.
//!
//! Two engines share one configuration and differ only in how instances get their memory:
//! - `shared` (wasmtime's on-demand allocator) makes the long-lived instances of
//!   `isolation = "instance"` sites: each maps its memory when made and unmaps it when
//!   dropped, so an idle server gives its memory back and no slot count caps a site.
//! - `fresh` (the pooling allocator) makes the one-request instances of
//!   `isolation = "request"` sites. Its slots are reserved once and reused: a dropped
//!   instance's memory is reset in place (the pages the request dirtied are copied back from
//!   the snapshot, found with Linux's `PAGEMAP_SCAN`) instead of unmapped, and the next
//!   instance finds them mapped, which saves most of the page faults and the unmapping a fresh
//!   instance costs with the on-demand allocator. When the machine cannot reserve the pool,
//!   `fresh` falls back to the on-demand allocator (logged).
//!
//! Both produce the same compiled code (the allocator is not part of it), so one `.cwasm`
//! serves both.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::Component;
use wasmtime::error::Context as _;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::Isolation;

/// Table elements an instance may have (function references; CPython needs some thousands).
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// How often the epoch advances: the longest a guest runs before yielding to tokio.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Instances of `isolation = "request"` sites alive at once, server-wide: the pooling
/// allocator's slots. A request past it gets a 503 (`Busy::PoolFull`).
pub const FRESH_SLOTS: u32 = 1000;
/// The most a core instance of a site's component may hold of each kind. A componentize-py
/// component links about a dozen core modules (libc, libpython, the bridge's runtime,
/// adapters) sharing one memory; the limits leave room for bigger builds.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;
/// A reset keeps up to this much of a slot's dirtied memory mapped (copied back from the
/// snapshot) rather than giving it back to the kernel.
const KEEP_RESIDENT: usize = 16 << 20;
/// Used slots kept warm for the sites that used them before another site takes them over.
const WARM_SLOTS: u32 = 16;

/// The engines of the process (see the module doc).
#[derive(Clone)]
pub struct Engines {
    pub shared: Engine,
    pub fresh: Engine,
}

impl Engines {
    /// The engine that makes the instances of a site with this isolation.
    pub fn for_isolation(&self, isolation: Isolation) -> &Engine {
        match isolation {
            Isolation::Instance => &self.shared,
            Isolation::Request => &self.fresh,
        }
    }
}

/// Makes the engines and starts the thread that advances their epochs.
pub fn create_engines() -> Result<Engines> {
    let shared = Engine::new(&base_config()).context("cannot create the wasmtime engine")?;
    let mut pooled = base_config();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config()));
    let fresh = match Engine::new(&pooled) {
        Ok(engine) => engine,
        Err(error) => {
            tracing::warn!(
                error = %format!("{error:#}"),
                "cannot reserve the instance pool; fresh instances use the on-demand allocator"
            );
            shared.clone()
        }
    };
    let tickers = [shared.weak(), fresh.weak()];
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            let mut alive = false;
            for ticker in &tickers {
                if let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    alive = true;
                }
            }
            if !alive {
                return;
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(Engines { shared, fresh })
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// The pooling allocator of `fresh`: slots for every memory a site may ask for (`memory`
/// is at most 4 GiB, wasm32's whole address space), reset in place after each request.
fn pool_config() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(FRESH_SLOTS)
        .total_stacks(FRESH_SLOTS)
        .total_core_instances(FRESH_SLOTS * CORE_INSTANCES_PER_COMPONENT / 4)
        .total_memories(FRESH_SLOTS * MEMORIES_PER_COMPONENT)
        .total_tables(FRESH_SLOTS * TABLES_PER_COMPONENT / 2)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(4 << 30)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_component_instance_size(4 << 20)
        .max_core_instance_size(4 << 20)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(1 << 20)
        .max_unused_warm_slots(WARM_SLOTS)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// The compiled form of a build's component for `engine`, in the build folder `build_dir`.
pub fn compiled_path(engine: &Engine, build_dir: &Path) -> std::path::PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    build_dir.join(format!("component-{:016x}.cwasm", hasher.finish()))
}

/// Compiles the build's component (`build_dir/component.wasm`) for the engine the server
/// makes instances of it with (`fresh`: the pooling engine of `isolation = "request"`), once.
/// Runs in the build process: Cranelift's time and memory are never the server's.
pub fn compile(fresh: bool, build_dir: &Path) -> Result<()> {
    let engine = if fresh {
        let mut pooled = base_config();
        pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config()));
        Engine::new(&pooled).or_else(|_| Engine::new(&base_config()))
    } else {
        Engine::new(&base_config())
    }
    .context("cannot create the wasmtime engine")?;
    let compiled = compiled_path(&engine, build_dir);
    if compiled.is_file() {
        return Ok(());
    }
    let component = build_dir.join("component.wasm");
    let wasm = std::fs::read(&component)
        .with_context(|| format!("cannot read `{}`", component.display()))?;
    let bytes = engine
        .precompile_component(&wasm)
        .with_context(|| format!("cannot compile `{}`", component.display()))?;
    let partial = compiled.with_extension(format!("cwasm.tmp-{}", std::process::id()));
    std::fs::write(&partial, bytes)
        .with_context(|| format!("cannot write `{}`", partial.display()))?;
    std::fs::rename(&partial, &compiled)
        .with_context(|| format!("cannot write `{}`", compiled.display()))?;
    Ok(())
}

/// Whether the build in `build_dir` is compiled for `engine` (else a build process compiles
/// it: the server never runs the compiler).
pub fn is_compiled(engine: &Engine, build_dir: &Path) -> bool {
    compiled_path(engine, build_dir).is_file()
}

/// Loads the build's component compiled for `engine` (by [`compile`], in a build process).
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
pub fn load_component(engine: &Engine, build_dir: &Path) -> Result<Component> {
    let compiled = compiled_path(engine, build_dir);
    // SAFETY: the file was written by `precompile_component` (`compile`, in a build process
    // of this server) into the server's own state folder, which tenants cannot write to.
    unsafe { Component::deserialize_file(engine, &compiled) }
        .with_context(|| format!("cannot load `{}`", compiled.display()))
        .map_err(anyhow::Error::from)
}
