//! The `crypto` interface of the WIT world: key derivation the guest's CPython cannot do
//! itself. It is built without OpenSSL, so `hashlib.pbkdf2_hmac` and `hashlib.scrypt` are
//! missing: Django's default password hasher (PBKDF2-HMAC-SHA256, a million iterations) and
//! Werkzeug's (`generate_password_hash`, scrypt) would fail; the bridge
//! (`guest-python/wsgi_bridge/crypto.py`) installs both in `hashlib`, calling here.
//!
//! Where it sits: a guest running a request calls `pbkdf2-hmac` (`pbkdf2.rs`) or `scrypt`
//! (`scrypt.rs`); the derivation runs on
//! tokio's blocking pool, so a million iterations never hold an async worker. Derivations
//! take turns for a few server-wide slots (half the cores, at least one), as busy guests do in
//! the heavy lane, and the CPU time a derivation used is charged to the request's `cpu_time`:
//! a site cannot use host calls to escape its CPU limit. Arguments are bounded so one call's
//! work is bounded too (the charge comes when the call ends, so a request overruns its
//! `cpu_time` by at most one call, about a second).

mod pbkdf2;
mod scrypt;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::runtime::engine::EPOCH_TICK;
use crate::wsgi::bindings::wsgi_wasm::bridge::crypto;
use crate::wsgi::store::StoreState;

use pbkdf2::Pbkdf2;
use scrypt::Scrypt;

/// Slots for derivations running at once, server-wide.
fn slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Semaphore::new((cores / 2).max(1)))
    })
}

/// CPU time the calling thread has used.
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let failed = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0;
    if failed {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs a checked derivation on the blocking pool; returns the key and the CPU time it took.
pub async fn run(
    derive: impl FnOnce() -> Vec<u8> + Send + 'static,
) -> wasmtime::Result<(Vec<u8>, Duration)> {
    let _slot = slots()
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| wasmtime::format_err!("the derivation slots are closed"))?;
    tokio::task::spawn_blocking(move || {
        let start = thread_cpu_time();
        let key = derive();
        (key, thread_cpu_time().saturating_sub(start))
    })
    .await
    .map_err(|e| wasmtime::format_err!("the key derivation task failed: {e}"))
}

impl StoreState {
    /// Charges `used` to the request's `cpu_time`: the guest's CPU limit covers the work the
    /// host did for it. An error (which ends the request) when that ran out.
    fn charge(&mut self, used: Duration, call: &str) -> wasmtime::Result<()> {
        let ticks = used.as_micros().div_ceil(EPOCH_TICK.as_micros()) as u64;
        self.cpu_ticks = self.cpu_ticks.saturating_add(ticks);
        if self.cpu_ticks > self.cpu_allowance {
            self.cpu_exceeded = true;
            return Err(wasmtime::format_err!(
                "the request ran out of CPU time (in {call})"
            ));
        }
        Ok(())
    }
}

impl crypto::Host for StoreState {
    async fn pbkdf2_hmac(
        &mut self,
        hash: String,
        password: Vec<u8>,
        salt: Vec<u8>,
        iterations: u32,
        dklen: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let job = match Pbkdf2::new(&hash, password, salt, iterations, dklen) {
            Ok(job) => job,
            Err(refused) => return Ok(Err(refused.to_string())),
        };
        let (key, used) = run(move || job.derive()).await?;
        self.charge(used, "pbkdf2-hmac")?;
        Ok(Ok(key))
    }

    async fn scrypt(
        &mut self,
        password: Vec<u8>,
        salt: Vec<u8>,
        cost: crypto::ScryptCost,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let cost = scrypt::Cost {
            n: cost.n,
            r: cost.r,
            p: cost.p,
            maxmem: cost.maxmem,
            dklen: cost.dklen,
        };
        let job = match Scrypt::new(password, salt, cost) {
            Ok(job) => job,
            Err(refused) => return Ok(Err(refused.to_string())),
        };
        let (key, used) = run(move || job.derive()).await?;
        self.charge(used, "scrypt")?;
        Ok(Ok(key))
    }
}
