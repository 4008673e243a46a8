//! A site's instances: made from its pre-instantiated component, reused one request at a
//! time, never shared with another site, and held to the site's limits.
//!
//! - At most `instances` run at once; up to `queue` more requests wait for one, each at most
//!   `queue_timeout`; beyond that a request is turned away at once ([`Busy`] → 503).
//! - A request takes an idle instance (the most recently used) or makes a new one; an
//!   instance is reused after a clean request, up to `max_requests`, and dropped when it has
//!   been idle for `idle_timeout` (a reaper task sweeps them, so an idle site holds none).
//! - With `isolation = "request"` every request gets a fresh instance from the snapshot.
//! - Every instance's memory is charged to the site's [`MemoryBudget`]; an instance that
//!   cannot be made because the budget is full is [`Busy::Budget`].
//! - An instance whose call trapped, timed out or ran out of memory is dropped by the caller.
//! - A site with writable data keeps its requests apart with its [`DataGate`], taken before
//!   the wait for an instance ([`SitePool::admit`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store, UpdateDeadline};

use super::bindings::{Wsgi, WsgiPre};
use super::store::{Sandbox, StoreState};
use crate::config::DataLock;
use crate::config::{Isolation, Limits};
use crate::runtime::budget::MemoryBudget;
use crate::runtime::data_lock::{DataGate, DataGuard, Locked};
use crate::runtime::engine::EPOCH_TICK;
use crate::runtime::file_io;
use crate::runtime::fsync;
use crate::runtime::lane;
use crate::runtime::quota::{self, Usage};
use crate::runtime::readdir;

/// A warm instance and its store.
pub struct Instance {
    pub store: Store<StoreState>,
    pub wsgi: Wsgi,
    /// Unique in the process (the access log's `instance=`).
    pub id: u64,
    /// Requests this instance has served.
    served: u64,
    idle_since: Instant,
    /// Counts the instance among the pool's live ones until it is dropped.
    _live: Live,
}

/// One live instance of a pool, counted in [`SitePool::live_instances`] while it exists.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::Relaxed);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The id of the next instance made, in any site.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// Why a request got no instance.
#[derive(Debug, thiserror::Error)]
pub enum Busy {
    #[error("all {0} instances are busy and the queue is full")]
    QueueFull(usize),
    #[error("no instance became free within {0:?}")]
    QueueTimeout(Duration),
    #[error("the site's memory budget is full")]
    Budget,
    /// Every slot of the server's pool of one-request instances is taken (`FRESH_SLOTS`).
    #[error("all {0} slots of the server's one-request instance pool are taken")]
    PoolFull(u32),
    #[error(transparent)]
    DataLock(#[from] Locked),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The instances of one site.
pub struct SitePool {
    site: Arc<str>,
    engine: Engine,
    pre: WsgiPre<StoreState>,
    sandbox: Sandbox,
    limits: Limits,
    budget: Arc<MemoryBudget>,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    data_lock: DataGate,
    /// Instances that exist now, idle or serving.
    live: Arc<AtomicUsize>,
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
        limits: Limits,
        data_lock: DataLock,
    ) -> Result<Self> {
        let mut linker = Linker::<StoreState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).context("cannot link WASI")?;
        readdir::add_to_linker(&mut linker)?;
        fsync::add_to_linker(&mut linker)?;
        file_io::add_to_linker(&mut linker)?;
        quota::add_to_linker(&mut linker)?;
        Wsgi::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)
            .context("cannot link the host interface")?;
        let pre = linker
            .instantiate_pre(component)
            .with_context(|| format!("site `{site}`: the component does not fit the host"))?;
        let pre = WsgiPre::new(pre)
            .with_context(|| format!("site `{site}`: the component does not export `handle`"))?;
        let folders = sandbox.data.iter().map(|(host, _)| host.clone()).collect();
        let gate = DataGate::new(&site, data_lock, &limits, folders);
        Ok(Self {
            site,
            engine: engine.clone(),
            pre,
            sandbox,
            budget: MemoryBudget::new(limits.memory_budget()),
            slots: Arc::new(Semaphore::new(limits.instances)),
            data_lock: gate,
            limits,
            idle: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            live: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn site(&self) -> &Arc<str> {
        &self.site
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn budget(&self) -> &Arc<MemoryBudget> {
        &self.budget
    }

    /// What the site keeps in `/tmp` and each data folder, against its quotas.
    pub fn storage(&self) -> Vec<Usage> {
        self.sandbox
            .quotas
            .iter()
            .map(|area| area.usage())
            .collect()
    }

    /// The site's instances that exist now, idle or serving (for the admin side).
    pub fn live_instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Starts the task that drops instances idle for longer than `idle_timeout`; it ends
    /// with the pool.
    pub fn start_reaper(self: &Arc<Self>) {
        let pool: Weak<SitePool> = Arc::downgrade(self);
        let every = (self.limits.idle_timeout / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                let expired = pool.take_expired();
                drop(pool);
                // Stores are dropped outside the lock.
                drop(expired);
            }
        });
    }

    /// Takes the site's data lock for a request with `method`, then an instance: a request
    /// held back by the lock holds no instance while it waits. The guard must live as long
    /// as the request.
    pub async fn admit(&self, method: &str, request: u64) -> Result<(DataGuard, Lease), Busy> {
        let guard = self.data_lock.enter(method, &self.site, request).await?;
        Ok((guard, self.acquire().await?))
    }

    /// Ends the data lock of a request whose instance was discarded: clears the sqlite locks
    /// the instance may have left (see [`DataGate::recover`]).
    pub async fn recover_data(&self, guard: DataGuard, request: u64) {
        self.data_lock.recover(guard, &self.site, request).await;
    }

    /// Waits for a slot under the site's cap (within the queue's bounds), then lends an idle
    /// instance or a new one.
    pub async fn acquire(&self) -> Result<Lease, Busy> {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy::QueueFull(self.limits.instances));
                }
                let waited = tokio::time::timeout(
                    self.limits.queue_timeout,
                    self.slots.clone().acquire_owned(),
                )
                .await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Ok(Ok(slot)) => slot,
                    Ok(Err(_)) => {
                        return Err(Busy::Failed(anyhow::anyhow!("the site is shutting down")))
                    }
                    Err(_) => return Err(Busy::QueueTimeout(self.limits.queue_timeout)),
                }
            }
        };
        let instance = match self.take_idle() {
            Some(instance) => instance,
            None => self.instantiate().await?,
        };
        Ok(Lease {
            instance,
            _slot: slot,
        })
    }

    /// Prepares a lent instance for one request: its CPU allowance and deadline.
    pub fn begin(&self, instance: &mut Instance) {
        let state = instance.store.data_mut();
        state.cpu_ticks = 0;
        state.cpu_exceeded = false;
        state.limiter.refused = false;
        state.cpu_allowance =
            (self.limits.cpu_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        instance.store.set_epoch_deadline(1);
    }

    /// Gives an instance back after a request that ended cleanly; it is dropped instead when
    /// it has served `max_requests` or the site isolates every request.
    pub fn release(&self, lease: Lease) {
        let Lease {
            mut instance,
            _slot,
        } = lease;
        instance.served += 1;
        instance.store.data_mut().request = None;
        let worn_out = self.limits.max_requests > 0 && instance.served >= self.limits.max_requests;
        if worn_out || self.limits.isolation == Isolation::Request {
            return;
        }
        instance.idle_since = Instant::now();
        self.idle.lock().expect("pool lock").push(instance);
    }

    fn take_idle(&self) -> Option<Instance> {
        if self.limits.isolation == Isolation::Request {
            return None;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        while let Some(instance) = idle.pop() {
            if instance.idle_since.elapsed() < self.limits.idle_timeout {
                return Some(instance);
            }
        }
        None
    }

    fn take_expired(&self) -> Vec<Instance> {
        let mut idle = self.idle.lock().expect("pool lock");
        let (expired, fresh) = std::mem::take(&mut *idle)
            .into_iter()
            .partition(|i: &Instance| i.idle_since.elapsed() >= self.limits.idle_timeout);
        *idle = fresh;
        expired
    }

    async fn instantiate(&self) -> Result<Instance, Busy> {
        let state = StoreState::new(&self.site, &self.sandbox, &self.budget, self.limits.memory)?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > state.cpu_allowance {
                state.cpu_exceeded = true;
                return Err(wasmtime::format_err!("the request ran out of CPU time"));
            }
            let ran = EPOCH_TICK * state.cpu_ticks as u32;
            Ok(UpdateDeadline::YieldCustom(1, lane::yield_guest(ran)))
        });
        store.set_epoch_deadline(1);
        match self.pre.instantiate_async(&mut store).await {
            Ok(wsgi) => Ok(Instance {
                store,
                wsgi,
                id: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
                served: 0,
                idle_since: Instant::now(),
                _live: Live::new(&self.live),
            }),
            Err(_) if store.data().limiter.refused => Err(Busy::Budget),
            Err(error) if error.is::<wasmtime::PoolConcurrencyLimitError>() => {
                Err(Busy::PoolFull(crate::runtime::engine::FRESH_SLOTS))
            }
            Err(error) => Err(Busy::Failed(anyhow::Error::from(error).context(format!(
                "site `{}`: cannot instantiate the component",
                self.site
            )))),
        }
    }
}
