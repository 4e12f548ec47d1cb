//! Isolate-local caches. Workers reuse an isolate for many requests, so remembering a successful
//! bcrypt check (tens of milliseconds in wasm) for a short time takes it off the hot path of a
//! docker push, which asks for several tokens in a row.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

/// A bounded map whose entries expire `ttl` seconds after insertion. Full: expired entries go
/// first, then the oldest.
#[derive(Debug)]
pub(crate) struct TtlCache<K: Ord + Clone, V: Clone> {
    entries: BTreeMap<K, (u64, V)>,
    capacity: usize,
    ttl: u64,
}

impl<K: Ord + Clone, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(capacity: usize, ttl: u64) -> Self {
        Self {
            entries: BTreeMap::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    pub(crate) fn get(&mut self, key: &K, now: u64) -> Option<V> {
        match self.entries.get(key) {
            Some((inserted, v)) if now < inserted.saturating_add(self.ttl) && now >= *inserted => {
                Some(v.clone())
            }
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&mut self, key: K, value: V, now: u64) {
        if self.ttl == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries.retain(|_, (t, _)| now < t.saturating_add(ttl));
            if self.entries.len() >= self.capacity {
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (t, _))| *t)
                    .map(|(k, _)| k.clone())
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key, (now, value));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Remembers credential checks that succeeded. The key is an HMAC under a random per-isolate key
/// of (account, secret, stored hash): the secret itself is never kept, a dump of the cache reveals
/// nothing, and a password change (a new stored hash) can never hit an old entry.
#[derive(Debug)]
pub(crate) struct VerifiedCache {
    isolate_key: [u8; 32],
    seen: TtlCache<[u8; 32], ()>,
}

impl VerifiedCache {
    pub(crate) fn new(isolate_key: [u8; 32], capacity: usize, ttl: u64) -> Self {
        Self {
            isolate_key,
            seen: TtlCache::new(capacity, ttl),
        }
    }

    fn key(&self, account: &str, secret: &str, stored_hash: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.isolate_key)
            .expect("HMAC takes any key length");
        // Length prefixes make the encoding injective: ("a:b","c") and ("a","b:c") differ.
        for part in [account, secret, stored_hash] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn contains(
        &mut self,
        account: &str,
        secret: &str,
        stored_hash: &str,
        now: u64,
    ) -> bool {
        let k = self.key(account, secret, stored_hash);
        self.seen.get(&k, now).is_some()
    }

    pub(crate) fn insert(&mut self, account: &str, secret: &str, stored_hash: &str, now: u64) {
        let k = self.key(account, secret, stored_hash);
        self.seen.insert(k, (), now);
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
    fn ttl_cache_expires_and_bounds() {
        let mut c = TtlCache::new(2, 10);
        c.insert("a", 1, 100);
        assert_eq!(c.get(&"a", 109), Some(1));
        assert_eq!(c.get(&"a", 110), None, "expired at insert + ttl");
        c.insert("a", 1, 100);
        c.insert("b", 2, 101);
        c.insert("c", 3, 102);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&"a", 102), None, "oldest evicted");
        assert_eq!(c.get(&"c", 102), Some(3));
    }

    #[test]
    fn ttl_zero_disables_caching() {
        let mut c = TtlCache::new(2, 0);
        c.insert(1, 1, 0);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn clock_going_backwards_misses() {
        let mut c = TtlCache::new(2, 10);
        c.insert(1, 1, 100);
        assert_eq!(c.get(&1, 50), None);
    }

    #[test]
    fn verified_cache_hits_only_same_triple() {
        let mut v = VerifiedCache::new([9u8; 32], 16, 30);
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
        let a = VerifiedCache::new([1u8; 32], 4, 30);
        let b = VerifiedCache::new([2u8; 32], 4, 30);
        assert_ne!(a.key("u", "p", "h"), b.key("u", "p", "h"));
    }
}
