//! scrypt (RFC 7914) for `hashlib.scrypt`, Werkzeug's default password hash: the arguments
//! checked as CPython (OpenSSL) checks them, then bounded by the server, then the derivation
//! (run off the async workers by `mod.rs`).
//!
//! CPython refuses an `n` that is not a power of 2 above 1, and OpenSSL any `r`, `p` or `n`
//! whose working memory, `128 × r × (n + p + 2)` bytes, is over `maxmem` (32 MiB when the
//! caller gives 0). The server adds two bounds of its own, so that one call's memory and
//! time are bounded whatever `maxmem` says: at most [`MAX_MEMORY`] of working memory (host
//! memory, outside the site's budget, for the call's duration) and at most [`MAX_WORK`] for
//! `n × r × p` (16 times Werkzeug's `n = 2¹⁵, r = 8, p = 1`).

/// The most working memory one call may use, in bytes.
pub const MAX_MEMORY: u64 = 256 * 1024 * 1024;
/// The most work one call may ask for: `n × r × p`.
pub const MAX_WORK: u64 = 1 << 22;
/// OpenSSL's `maxmem` when the caller passes 0.
pub const DEFAULT_MAXMEM: u64 = 32 * 1024 * 1024;
/// The longest password or salt, and the longest derived key, in bytes.
pub const MAX_INPUT: usize = 1024 * 1024;
pub const MAX_DKLEN: u32 = 4096;

/// Why a derivation was refused; the text goes back to the guest as a `ValueError`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScryptError {
    #[error("n must be a power of 2.")]
    NotPowerOfTwo,
    #[error("dklen must be greater than 0 and smaller than 2147483647")]
    NoKey,
    #[error("key length {0} is too great (at most {MAX_DKLEN} bytes in the wsgi-wasm sandbox)")]
    KeyTooLong(u32),
    #[error("[digital envelope routines] memory limit exceeded")]
    OverMaxmem,
    #[error("Invalid parameter combination for n, r, p, maxmem.")]
    Combination,
    #[error(
        "n, r and p ask for {memory} bytes of memory (at most {MAX_MEMORY} in the wsgi-wasm \
         sandbox)"
    )]
    TooMuchMemory { memory: u64 },
    #[error("n × r × p = {work} is too great (at most {MAX_WORK} in the wsgi-wasm sandbox)")]
    TooMuchWork { work: u64 },
    #[error("password or salt of {0} bytes is too long (at most {MAX_INPUT} bytes)")]
    InputTooLong(usize),
}

/// The cost parameters as the guest passed them.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub n: u64,
    pub r: u32,
    pub p: u32,
    /// 0 for OpenSSL's default.
    pub maxmem: u64,
    pub dklen: u32,
}

/// A checked scrypt request.
#[derive(Debug)]
pub struct Scrypt {
    password: Vec<u8>,
    salt: Vec<u8>,
    params: ::scrypt::Params,
    dklen: usize,
}

impl Scrypt {
    /// Checks the arguments: CPython's and OpenSSL's checks first (with their messages),
    /// then the server's bounds.
    pub fn new(password: Vec<u8>, salt: Vec<u8>, cost: Cost) -> Result<Scrypt, ScryptError> {
        let Cost {
            n,
            r,
            p,
            maxmem,
            dklen,
        } = cost;
        if n < 2 || !n.is_power_of_two() {
            return Err(ScryptError::NotPowerOfTwo);
        }
        if dklen == 0 {
            return Err(ScryptError::NoKey);
        }
        if dklen > MAX_DKLEN {
            return Err(ScryptError::KeyTooLong(dklen));
        }
        let (r64, p64) = (u64::from(r), u64::from(p));
        // OpenSSL: r and p at least 1, p × r below 2³⁰, n below 2^(16 r).
        if r == 0 || p == 0 || r64 * p64 >= 1 << 30 || (r64 < 4 && n >= 1 << (16 * r64)) {
            return Err(ScryptError::Combination);
        }
        let memory = 128u64
            .checked_mul(r64)
            .and_then(|m| m.checked_mul(n.checked_add(p64 + 2)?))
            .ok_or(ScryptError::Combination)?;
        let limit = if maxmem == 0 { DEFAULT_MAXMEM } else { maxmem };
        if memory > limit {
            return Err(ScryptError::OverMaxmem);
        }
        if memory > MAX_MEMORY {
            return Err(ScryptError::TooMuchMemory { memory });
        }
        let work = n.saturating_mul(r64).saturating_mul(p64);
        if work > MAX_WORK {
            return Err(ScryptError::TooMuchWork { work });
        }
        let longest = password.len().max(salt.len());
        if longest > MAX_INPUT {
            return Err(ScryptError::InputTooLong(longest));
        }
        let log_n = n.trailing_zeros() as u8;
        let params = ::scrypt::Params::new(log_n, r, p, ::scrypt::Params::RECOMMENDED_LEN)
            .map_err(|_| ScryptError::Combination)?;
        Ok(Scrypt {
            password,
            salt,
            params,
            dklen: dklen as usize,
        })
    }

    /// Derives the key (CPU- and memory-bound: call it off the async workers).
    pub fn derive(&self) -> Vec<u8> {
        let mut key = vec![0; self.dklen];
        ::scrypt::scrypt(&self.password, &self.salt, &self.params, &mut key)
            .expect("a key of 1 to 4096 bytes is a valid scrypt output");
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(n: u64, r: u32, p: u32, dklen: u32) -> Cost {
        Cost {
            n,
            r,
            p,
            maxmem: 0,
            dklen,
        }
    }

    fn derive(password: &[u8], salt: &[u8], cost: Cost) -> String {
        let job = Scrypt::new(password.to_vec(), salt.to_vec(), cost).expect("valid arguments");
        hex::encode(job.derive())
    }

    #[test]
    fn crypto_scrypt_matches_rfc_7914() {
        assert_eq!(
            derive(b"", b"", cost(16, 1, 1, 64)),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442\
             fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
        );
        assert_eq!(
            derive(b"password", b"NaCl", cost(1024, 8, 16, 64)),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
             2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
        assert_eq!(
            derive(b"pleaseletmein", b"SodiumChloride", cost(16384, 8, 1, 64)),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2\
             d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
        );
    }

    /// Werkzeug 3's `generate_password_hash` default (`scrypt:32768:8:1`, `maxmem` 132 MiB),
    /// checked against CPython's `hashlib.scrypt` (OpenSSL) on the developer's machine.
    #[test]
    fn crypto_scrypt_matches_cpython_for_werkzeug_defaults() {
        let werkzeug = Cost {
            n: 1 << 15,
            r: 8,
            p: 1,
            maxmem: 132 * 1024 * 1024,
            dklen: 64,
        };
        assert_eq!(
            derive(b"secret", b"ZxYwVuTsRqPoNmLk", werkzeug),
            WERKZEUG_SECRET
        );
    }

    const WERKZEUG_SECRET: &str = "a4be25c9f301ccd7f9d1181e3ce348e6bc13dafaa9391fb8b2fc94fafe5c4fd7\
                                   c6f1da95f49f137395d7e48ca961eec10710e564ff6fada7616b5146ae8e0d89";

    #[test]
    fn crypto_scrypt_refuses_as_cpython_and_within_the_server_bounds() {
        let new = |n, r, p, maxmem, dklen| {
            Scrypt::new(
                b"pw".to_vec(),
                b"salt".to_vec(),
                Cost {
                    n,
                    r,
                    p,
                    maxmem,
                    dklen,
                },
            )
            .unwrap_err()
        };
        assert_eq!(new(0, 8, 1, 0, 64), ScryptError::NotPowerOfTwo);
        assert_eq!(new(1, 8, 1, 0, 64), ScryptError::NotPowerOfTwo);
        assert_eq!(new(1000, 8, 1, 0, 64), ScryptError::NotPowerOfTwo);
        assert_eq!(new(16, 8, 1, 0, 0), ScryptError::NoKey);
        assert_eq!(new(16, 8, 1, 0, 4097), ScryptError::KeyTooLong(4097));
        assert_eq!(new(16, 0, 1, 0, 64), ScryptError::Combination);
        assert_eq!(new(16, 8, 0, 0, 64), ScryptError::Combination);
        // Werkzeug's cost needs 32 MiB and a little more: over OpenSSL's default maxmem.
        assert_eq!(new(1 << 15, 8, 1, 0, 64), ScryptError::OverMaxmem);
        assert_eq!(
            new(1 << 15, 8, 1, 0, 64).to_string(),
            "[digital envelope routines] memory limit exceeded"
        );
        assert_eq!(
            new(1 << 19, 8, 1, 1 << 40, 64),
            ScryptError::TooMuchMemory {
                memory: 128 * 8 * ((1 << 19) + 3)
            }
        );
        assert_eq!(
            new(1 << 10, 8, 1024, 1 << 40, 64),
            ScryptError::TooMuchWork {
                work: (1 << 10) * 8 * 1024
            }
        );
        assert_eq!(
            new(1000, 8, 1, 0, 64).to_string(),
            "n must be a power of 2."
        );
        assert!(Scrypt::new(vec![], vec![], cost(1 << 14, 8, 1, 64)).is_ok());
    }
}
