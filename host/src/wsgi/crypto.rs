//! The `crypto` interface of the WIT world: key derivation the guest's CPython cannot do
//! itself. It is built without OpenSSL, so `hashlib.pbkdf2_hmac` is missing and Django's
//! default password hasher (PBKDF2-HMAC-SHA256, a million iterations) would fail; the bridge
//! (`guest-python/wsgi_bridge/crypto.py`) installs a `hashlib.pbkdf2_hmac` that calls here.
//!
//! Where it sits: a guest running a request calls `pbkdf2-hmac`; the derivation runs on
//! tokio's blocking pool, so a million iterations never hold an async worker. Derivations
//! take turns for a few server-wide slots (half the cores, at least one), as busy guests do in
//! the heavy lane, and the CPU time a derivation used is charged to the request's `cpu_time`:
//! a site cannot use host calls to escape its CPU limit. Arguments are bounded so one call's
//! work is bounded too (the charge comes when the call ends, so a request overruns its
//! `cpu_time` by at most one call, about a second).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hmac::Hmac;
use tokio::sync::Semaphore;

use crate::runtime::engine::EPOCH_TICK;
use crate::wsgi::bindings::wsgi_wasm::bridge::crypto;
use crate::wsgi::store::StoreState;

/// The most work one call may ask for: iterations times the blocks of the derived key (one
/// block per digest size). Django 5.2 asks for 1 000 000 × 1. About a second of one core
/// for SHA-256.
pub const MAX_WORK: u64 = 10_000_000;
/// The longest derived key, in bytes.
pub const MAX_DKLEN: u32 = 4096;
/// The longest salt, in bytes (the salt is hashed once per output block).
pub const MAX_SALT: usize = 1024 * 1024;

/// The digests `pbkdf2-hmac` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    /// The digest for a hashlib or OpenSSL name (`sha256`, `SHA256`, `sha-256`, `sha2-256`).
    pub fn from_name(name: &str) -> Option<Digest> {
        let lower = name.to_ascii_lowercase();
        let bare = lower
            .strip_prefix("sha2-")
            .map(|bits| format!("sha{bits}"))
            .unwrap_or_else(|| lower.replacen("sha-", "sha", 1));
        match bare.as_str() {
            "sha1" => Some(Digest::Sha1),
            "sha224" => Some(Digest::Sha224),
            "sha256" => Some(Digest::Sha256),
            "sha384" => Some(Digest::Sha384),
            "sha512" => Some(Digest::Sha512),
            _ => None,
        }
    }

    /// Output size in bytes: one block of the derived key.
    pub fn size(self) -> u32 {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha224 => 28,
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
        }
    }
}

/// Why a derivation was refused; the text goes back to the guest as a `ValueError`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("unsupported hash type {0} (pbkdf2_hmac offers sha1, sha224, sha256, sha384, sha512)")]
    UnsupportedHash(String),
    #[error("iteration value must be greater than 0.")]
    NoIterations,
    #[error(
        "iteration value {iterations} is too great for a key of {blocks} block(s) \
         (iterations × blocks at most {MAX_WORK}; a block is the digest size)"
    )]
    TooMuchWork { iterations: u32, blocks: u32 },
    #[error("key length must be greater than 0.")]
    NoKey,
    #[error("key length {0} is too great (at most {MAX_DKLEN} bytes)")]
    KeyTooLong(u32),
    #[error("salt of {0} bytes is too long (at most {MAX_SALT} bytes)")]
    SaltTooLong(usize),
}

/// A checked PBKDF2-HMAC request.
#[derive(Debug)]
pub struct Pbkdf2 {
    digest: Digest,
    password: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
    dklen: usize,
}

impl Pbkdf2 {
    /// Checks the arguments as the guest passed them (`dklen` 0 is refused: the bridge
    /// turns Python's `None` into the digest size before calling).
    pub fn new(
        hash: &str,
        password: Vec<u8>,
        salt: Vec<u8>,
        iterations: u32,
        dklen: u32,
    ) -> Result<Pbkdf2, CryptoError> {
        let digest =
            Digest::from_name(hash).ok_or_else(|| CryptoError::UnsupportedHash(hash.to_owned()))?;
        if iterations == 0 {
            return Err(CryptoError::NoIterations);
        }
        if dklen == 0 {
            return Err(CryptoError::NoKey);
        }
        if dklen > MAX_DKLEN {
            return Err(CryptoError::KeyTooLong(dklen));
        }
        let blocks = dklen.div_ceil(digest.size());
        if u64::from(iterations) * u64::from(blocks) > MAX_WORK {
            return Err(CryptoError::TooMuchWork { iterations, blocks });
        }
        if salt.len() > MAX_SALT {
            return Err(CryptoError::SaltTooLong(salt.len()));
        }
        Ok(Pbkdf2 {
            digest,
            password,
            salt,
            iterations,
            dklen: dklen as usize,
        })
    }

    /// Derives the key (CPU-bound: call it off the async workers).
    pub fn derive(&self) -> Vec<u8> {
        let mut key = vec![0; self.dklen];
        let (password, salt, rounds) = (&self.password[..], &self.salt[..], self.iterations);
        // `pbkdf2` fails only when the password is not a valid HMAC key, and HMAC takes keys
        // of any length.
        let derived = match self.digest {
            Digest::Sha1 => pbkdf2::pbkdf2::<Hmac<sha1::Sha1>>(password, salt, rounds, &mut key),
            Digest::Sha224 => {
                pbkdf2::pbkdf2::<Hmac<sha2::Sha224>>(password, salt, rounds, &mut key)
            }
            Digest::Sha256 => {
                pbkdf2::pbkdf2::<Hmac<sha2::Sha256>>(password, salt, rounds, &mut key)
            }
            Digest::Sha384 => {
                pbkdf2::pbkdf2::<Hmac<sha2::Sha384>>(password, salt, rounds, &mut key)
            }
            Digest::Sha512 => {
                pbkdf2::pbkdf2::<Hmac<sha2::Sha512>>(password, salt, rounds, &mut key)
            }
        };
        derived.expect("HMAC accepts keys of any length");
        key
    }
}

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
pub async fn run(job: Pbkdf2) -> wasmtime::Result<(Vec<u8>, Duration)> {
    let _slot = slots()
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| wasmtime::format_err!("the derivation slots are closed"))?;
    tokio::task::spawn_blocking(move || {
        let start = thread_cpu_time();
        let key = job.derive();
        (key, thread_cpu_time().saturating_sub(start))
    })
    .await
    .map_err(|e| wasmtime::format_err!("the key derivation task failed: {e}"))
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
        let (key, used) = run(job).await?;
        // The guest's CPU limit covers the work the host did for it.
        let ticks = used.as_micros().div_ceil(EPOCH_TICK.as_micros()) as u64;
        self.cpu_ticks = self.cpu_ticks.saturating_add(ticks);
        if self.cpu_ticks > self.cpu_allowance {
            self.cpu_exceeded = true;
            return Err(wasmtime::format_err!(
                "the request ran out of CPU time (in pbkdf2-hmac)"
            ));
        }
        Ok(Ok(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derive(hash: &str, password: &[u8], salt: &[u8], iterations: u32, dklen: u32) -> String {
        let job = Pbkdf2::new(hash, password.to_vec(), salt.to_vec(), iterations, dklen)
            .expect("valid arguments");
        hex::encode(job.derive())
    }

    #[test]
    fn crypto_pbkdf2_sha1_matches_rfc_6070() {
        assert_eq!(
            derive("sha1", b"password", b"salt", 1, 20),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6"
        );
        assert_eq!(
            derive("sha1", b"password", b"salt", 2, 20),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
        assert_eq!(
            derive("sha1", b"password", b"salt", 4096, 20),
            "4b007901b765489abead49d926f721d065a429c1"
        );
        assert_eq!(
            derive(
                "sha1",
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                25
            ),
            "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"
        );
        assert_eq!(
            derive("sha1", b"pass\0word", b"sa\0lt", 4096, 16),
            "56fa6aa75548099dcc37d7f03425e0c3"
        );
    }

    #[test]
    fn crypto_pbkdf2_sha256_matches_rfc_7914() {
        assert_eq!(
            derive("sha256", b"passwd", b"salt", 1, 64),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        assert_eq!(
            derive("sha256", b"Password", b"NaCl", 80000, 64),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    /// Values from CPython's `hashlib.pbkdf2_hmac` (OpenSSL) on the developer's machine.
    #[test]
    fn crypto_pbkdf2_matches_cpython_for_every_digest() {
        assert_eq!(
            derive("sha224", b"pw", b"salt", 1000, 28),
            "f5f3115462cadccda0dd525b5218f2c2c1f36650f9c3a9096a476b92"
        );
        assert_eq!(
            derive("sha384", b"pw", b"salt", 1000, 48),
            "272269078df2dc22afa2b36bcb32abcd177185c380d340ad98e977d0a1708387\
             225769b43e9f82764e83571f8dd7d2a0"
        );
        assert_eq!(
            derive("SHA512", b"pw", b"salt", 1000, 64),
            "dba2956d5d8f05e6f06dc9732ca6037d32a4fcbcdde4b35e62594b632d059275\
             a4612b69ad28703b5340833cb47d99636d088ef65309684ac39b5c45372b025e"
        );
        // A password longer than the block size, and a key longer than one block.
        assert_eq!(
            derive("sha512", &[b'x'; 200], b"salt", 2, 100),
            "87c9db0b7c12b94bec5039ae603028ec5076234596401c3a2899f16dfe93479f\
             2c3471672af152683f243d595ed1a7f3430ec13fda297c99e3989ea03d53f1cd\
             3cdc224ae542cc1d36770af9a1b1984d8529f284e6c29afcd62a4f379325eed8\
             c332efeb"
        );
        // Django 5.2's default iteration count.
        assert_eq!(
            derive("sha256", b"admin-demo-password", b"abc", 1_000_000, 32),
            "7081c9bfe41317129dd2034340ebd3fbb041e01a78b1efab71ad94463f22a860"
        );
    }

    #[test]
    fn crypto_digest_names_follow_hashlib_and_openssl() {
        assert_eq!(Digest::from_name("sha256"), Some(Digest::Sha256));
        assert_eq!(Digest::from_name("SHA256"), Some(Digest::Sha256));
        assert_eq!(Digest::from_name("sha-256"), Some(Digest::Sha256));
        assert_eq!(Digest::from_name("SHA2-512"), Some(Digest::Sha512));
        assert_eq!(Digest::from_name("sha-1"), Some(Digest::Sha1));
        assert_eq!(Digest::from_name("md5"), None);
        assert_eq!(Digest::from_name("sha3_256"), None);
        assert_eq!(Digest::from_name(""), None);
    }

    #[test]
    fn crypto_pbkdf2_refuses_arguments_out_of_range() {
        let new = |hash: &str, salt: usize, iterations, dklen| {
            Pbkdf2::new(hash, b"pw".to_vec(), vec![0; salt], iterations, dklen).unwrap_err()
        };
        assert_eq!(
            new("md5", 4, 1, 16),
            CryptoError::UnsupportedHash("md5".into())
        );
        assert_eq!(new("sha256", 4, 0, 32), CryptoError::NoIterations);
        assert_eq!(
            new("sha256", 4, 10_000_001, 32),
            CryptoError::TooMuchWork {
                iterations: 10_000_001,
                blocks: 1
            }
        );
        // Work counts the key's blocks: 64 bytes of SHA-256 are two.
        assert_eq!(
            new("sha256", 4, 5_000_001, 64),
            CryptoError::TooMuchWork {
                iterations: 5_000_001,
                blocks: 2
            }
        );
        assert!(Pbkdf2::new("sha256", vec![], vec![], 5_000_000, 64).is_ok());
        assert!(Pbkdf2::new("sha1", vec![], vec![], 2_000_000, 100).is_ok());
        assert_eq!(
            new("sha1", 4, 2_000_000, 101),
            CryptoError::TooMuchWork {
                iterations: 2_000_000,
                blocks: 6
            }
        );
        assert_eq!(new("sha256", 4, 1, 0), CryptoError::NoKey);
        assert_eq!(
            new("sha256", 4, 1, MAX_DKLEN + 1),
            CryptoError::KeyTooLong(MAX_DKLEN + 1)
        );
        assert_eq!(
            new("sha256", MAX_SALT + 1, 1, 32),
            CryptoError::SaltTooLong(MAX_SALT + 1)
        );
        assert!(Pbkdf2::new("sha256", vec![], vec![], 10_000_000, 32).is_ok());
        assert!(Pbkdf2::new("sha512", vec![], vec![], 1, MAX_DKLEN).is_ok());
        assert_eq!(
            new("md5", 4, 1, 16).to_string(),
            "unsupported hash type md5 (pbkdf2_hmac offers sha1, sha224, sha256, sha384, sha512)"
        );
    }
}
