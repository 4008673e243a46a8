//! Content hashes of build inputs: the cache key of a site's component.
//!
//! Everything that can change the component goes in (see `plan.rs` for the list); each part
//! is length-prefixed so parts cannot run together, and files are fed in pieces, so hashing
//! a site never holds a whole file in memory.

use sha2::{Digest, Sha256};

/// An incremental hash over named parts.
pub struct ContentHash(Sha256);

impl ContentHash {
    pub fn new(purpose: &str) -> Self {
        let mut hash = Self(Sha256::new());
        hash.text("purpose", purpose);
        hash
    }

    pub fn bytes(&mut self, label: &str, bytes: &[u8]) {
        self.begin(label, bytes.len() as u64);
        self.0.update(bytes);
    }

    pub fn text(&mut self, label: &str, text: &str) {
        self.bytes(label, text.as_bytes());
    }

    /// Starts a part of `len` bytes, to be fed with [`ContentHash::update`].
    pub fn begin(&mut self, label: &str, len: u64) {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update(len.to_le_bytes());
    }

    /// More bytes of the part begun last.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}
