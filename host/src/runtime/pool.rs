//! A site's instances: made from its pre-instantiated component, reused one request at a
//! time, never shared with another site.
//!
//! A request takes an idle instance (or makes a new one while the site is under its instance
//! cap) and gives it back when the request ended cleanly. An instance whose call trapped is
//! dropped, since its interpreter state can no longer be trusted; the next request gets a
//! fresh one from the snapshot.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store};

use super::bindings::{Wsgi, WsgiPre};
use super::store::{Sandbox, StoreState};

/// Upper bound of a site's live instances (issue-level limits make this per-site).
pub const DEFAULT_MAX_INSTANCES: usize = 8;

/// A warm instance and its store.
pub struct Instance {
    pub store: Store<StoreState>,
    pub wsgi: Wsgi,
    /// Requests this instance has served.
    pub served: u64,
}

/// The instances of one site.
pub struct SitePool {
    site: Arc<str>,
    engine: Engine,
    pre: WsgiPre<StoreState>,
    sandbox: Sandbox,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
}

/// An instance lent to one request, with its slot under the site's cap.
pub struct Lease {
    pub instance: Instance,
    _slot: OwnedSemaphorePermit,
}

impl SitePool {
    /// Links the component once; every instance is made from the result.
    pub fn new(
        site: Arc<str>,
        engine: &Engine,
        component: &Component,
        sandbox: Sandbox,
    ) -> Result<Self> {
        let mut linker = Linker::<StoreState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).context("cannot link WASI")?;
        Wsgi::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)
            .context("cannot link the host interface")?;
        let pre = linker
            .instantiate_pre(component)
            .with_context(|| format!("site `{site}`: the component does not fit the host"))?;
        let pre = WsgiPre::new(pre)
            .with_context(|| format!("site `{site}`: the component does not export `handle`"))?;
        Ok(Self {
            site,
            engine: engine.clone(),
            pre,
            sandbox,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(DEFAULT_MAX_INSTANCES)),
        })
    }

    pub fn site(&self) -> &Arc<str> {
        &self.site
    }

    /// Waits for a slot under the site's cap, then lends an idle instance or a new one.
    pub async fn acquire(&self) -> Result<Lease> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .context("the site is shutting down")?;
        let idle = self.idle.lock().expect("pool lock").pop();
        let instance = match idle {
            Some(instance) => instance,
            None => self.instantiate().await?,
        };
        Ok(Lease {
            instance,
            _slot: slot,
        })
    }

    /// Gives an instance back after a request that ended cleanly.
    pub fn release(&self, lease: Lease) {
        let Lease {
            mut instance,
            _slot,
        } = lease;
        instance.served += 1;
        instance.store.data_mut().request = None;
        self.idle.lock().expect("pool lock").push(instance);
    }

    async fn instantiate(&self) -> Result<Instance> {
        let mut store = Store::new(&self.engine, StoreState::new(&self.site, &self.sandbox)?);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let wsgi = self
            .pre
            .instantiate_async(&mut store)
            .await
            .with_context(|| format!("site `{}`: cannot instantiate the component", self.site))?;
        Ok(Instance {
            store,
            wsgi,
            served: 0,
        })
    }
}
