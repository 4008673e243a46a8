//! PBKDF2-HMAC (RFC 8018) for `hashlib.pbkdf2_hmac`: the arguments checked and bounded as
//! the guest passed them, then the derivation (run off the async workers by `mod.rs`).

use hmac::Hmac;

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
