//! Random identifiers and API keys.

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random id: `prefix` + `_` + 32 hex digits (128 random bits).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A new API key: `zkg_` + 64 hex digits (32 random bytes).
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("zkg_{}", hex::encode(bytes))
}

/// What the store keeps of an API key: the hex SHA-256 of the key text.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let (a, b) = (new_id("job"), new_id("job"));
        assert_ne!(a, b);
        assert!(a.starts_with("job_") && a.len() == 4 + 32);
        let k = new_api_key();
        assert_eq!(k.len(), 4 + 64);
        assert_eq!(hash_api_key(&k), hash_api_key(&k));
        assert_ne!(hash_api_key(&k), hash_api_key(&new_api_key()));
    }
}
