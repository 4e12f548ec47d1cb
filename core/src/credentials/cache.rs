//! Isolate-local caches. Workers reuse an isolate for many requests, so remembering a successful
//! bcrypt check (tens of milliseconds in wasm) for a short time takes it off the hot path of a
//! docker push, which asks for several tokens in a row.

use crate::ttl_cache::TtlCache;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Remembers credential checks that succeeded. The key is an HMAC under a random per-isolate key
/// of (account, secret, stored hash): the secret itself is never kept, a dump of the cache reveals
/// nothing, and a password change (a new stored hash) can never hit an old entry.
///
/// The isolate key may come later than the cache: the worker builds its service at isolate
/// startup, where workerd refuses randomness, and the first password check draws the key
/// ([`Self::draw_key`]). Without a key nothing is remembered and nothing is found.
#[derive(Debug)]
pub(crate) struct VerifiedCache {
    isolate_key: Option<[u8; 32]>,
    seen: TtlCache<[u8; 32], ()>,
    ttl: u64,
}

impl VerifiedCache {
    pub(crate) fn new(isolate_key: Option<[u8; 32]>, capacity: usize, ttl: u64) -> Self {
        Self {
            isolate_key,
            seen: TtlCache::new(capacity),
            ttl,
        }
    }

    /// Gives the cache its isolate key from `random` unless it has one. A failed draw leaves it
    /// without: every check then runs in full, as with `CACHE_TTL=0`.
    pub(crate) fn draw_key<E>(&mut self, random: impl FnOnce() -> Result<[u8; 32], E>) {
        if self.isolate_key.is_none() {
            self.isolate_key = random().ok();
        }
    }

    fn key(&self, account: &str, secret: &str, stored_hash: &str) -> Option<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.isolate_key.as_ref()?)
            .expect("HMAC takes any key length");
        // Length prefixes make the encoding injective: ("a:b","c") and ("a","b:c") differ.
        for part in [account, secret, stored_hash] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Some(mac.finalize().into_bytes().into())
    }

    pub(crate) fn contains(
        &mut self,
        account: &str,
        secret: &str,
        stored_hash: &str,
        now: u64,
    ) -> bool {
        self.key(account, secret, stored_hash)
            .is_some_and(|k| self.seen.contains(&k, now))
    }

    pub(crate) fn insert(&mut self, account: &str, secret: &str, stored_hash: &str, now: u64) {
        if let Some(k) = self.key(account, secret, stored_hash) {
            self.seen.insert(k, (), now.saturating_add(self.ttl), now);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_cache_hits_only_same_triple() {
        let mut v = VerifiedCache::new(Some([9u8; 32]), 16, 30);
        v.insert("alice", "pw", "$2y$hash1", 0);
        assert!(v.contains("alice", "pw", "$2y$hash1", 29));
        assert!(!v.contains("alice", "pw", "$2y$hash1", 30));
        assert!(!v.contains("alice", "other", "$2y$hash1", 1));
        assert!(
            !v.contains("alice", "pw", "$2y$hash2", 1),
            "password change misses"
        );
        assert!(
            !v.contains("alicepw", "", "$2y$hash1", 1),
            "no concatenation collisions"
        );
    }

    #[test]
    fn verified_cache_keys_depend_on_isolate_key() {
        let a = VerifiedCache::new(Some([1u8; 32]), 4, 30);
        let b = VerifiedCache::new(Some([2u8; 32]), 4, 30);
        assert_ne!(a.key("u", "p", "h"), b.key("u", "p", "h"));
    }

    #[test]
    fn without_an_isolate_key_nothing_is_remembered_until_one_is_drawn() {
        let mut v = VerifiedCache::new(None, 4, 30);
        v.insert("alice", "pw", "$2y$h", 0);
        assert!(!v.contains("alice", "pw", "$2y$h", 1));
        assert_eq!(v.len(), 0);
        // A failed draw leaves the cache keyless (fail closed: every check runs in full).
        v.draw_key(|| Err::<[u8; 32], ()>(()));
        v.insert("alice", "pw", "$2y$h", 0);
        assert!(!v.contains("alice", "pw", "$2y$h", 1));
        v.draw_key(|| Ok::<_, ()>([3u8; 32]));
        v.insert("alice", "pw", "$2y$h", 0);
        assert!(v.contains("alice", "pw", "$2y$h", 1));
        // A second draw keeps the first key, so what was remembered stays found.
        v.draw_key(|| Ok::<_, ()>([4u8; 32]));
        assert!(v.contains("alice", "pw", "$2y$h", 1));
    }
}
